package partlog

import (
	"os"
	"testing"

	"github.com/strata-log/strata/pkg/testutil"
)

func TestMain(m *testing.M) {
	// The crash test runs this binary again as the writer it kills.
	if dir := os.Getenv(crashDirEnv); dir != "" {
		os.Exit(runCrashWriter(dir, os.Getenv(crashFsyncEnv)))
	}
	testutil.VerifyNoLeaks(m)
}
