package transcribe_test

import (
	"testing"
	"time"

	"github.com/earshot-dev/earshot/transcribe"
	"github.com/earshot-dev/earshot/transcribe/vadtest"
)

func TestEnergyVAD(t *testing.T) { vadtest.Run(t, transcribe.EnergyVAD{}, 100*time.Millisecond) }
