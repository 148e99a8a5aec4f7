//go:build !race

package agentmode_test

const raceDetector = false
