package openapi_test

import (
	"os"
	"testing"

	"github.com/strata-dev/strata/app/apptest"
)

// TestMain removes the hook compile cache the test servers share.
func TestMain(m *testing.M) { os.Exit(apptest.Main(m)) }
