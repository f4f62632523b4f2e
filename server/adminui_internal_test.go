package server

import "testing"

// TestUIBase checks the mount path the pages are given, from the route
// patterns Mount registers at the root and under a group.
func TestUIBase(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ route, want string }{
		{"/", ""},
		{"/_", ""},
		{"/_/", ""},
		{"/_/:file", ""},
		{"/strata/", "/strata"},
		{"/strata", "/strata"},
		{"/strata/_", "/strata"},
		{"/strata/_/:file", "/strata"},
		{"/a/_b/_", "/a/_b"},
	} {
		if got := uiBase(tc.route); got != tc.want {
			t.Errorf("uiBase(%q) = %q, want %q", tc.route, got, tc.want)
		}
	}
}

func TestAcceptsGzip(t *testing.T) {
	t.Parallel()
	for ae, want := range map[string]bool{
		"": false, "gzip": true, "br, gzip;q=0.8": true, "gzip;q=0": false, "GZIP": true,
		"deflate": false, "*": true, "identity": false, "gzip; q=0.000": false,
	} {
		if got := acceptsGzip(ae); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", ae, got, want)
		}
	}
}
