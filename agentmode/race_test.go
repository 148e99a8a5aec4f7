//go:build race

package agentmode_test

// The race detector makes the property sweeps ten times slower; under it
// they run a sample, and `make unit` runs them whole without it.
const raceDetector = true
