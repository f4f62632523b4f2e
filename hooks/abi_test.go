package hooks

import (
	"reflect"
	"testing"
)

func TestLeafFunctions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		module string
		want   []bool // defined functions, in order
	}{
		// hook_abi_v1, $add (leaf), $visit (calls $add), hook_handle (calls imports)
		{"calls", []bool{true, true, false, false}},
		// hook_abi_v1, hook_handle (calls output_write)
		{"allow", []bool{true, false}},
	}
	for _, tc := range tests {
		t.Run(tc.module, func(t *testing.T) {
			got, err := leafFunctions(module(t, tc.module))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("leafFunctions = %v, want %v", got, tc.want)
			}
		})
	}
	hostileTests := []struct {
		module string
		want   []bool
	}{
		// hook_abi_v1, hook_handle (a loop, no call: a leaf that wazero checks at the back-edge)
		{"loop", []bool{true, true}},
		// hook_abi_v1, $tree (calls itself), hook_handle
		{"exptree", []bool{true, false, false}},
	}
	for _, tc := range hostileTests {
		t.Run(tc.module, func(t *testing.T) {
			got, err := leafFunctions(hostile(t, tc.module))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("leafFunctions = %v, want %v", got, tc.want)
			}
		})
	}
	g := newCallGuard(module(t, "calls"))
	if g.imported != 2 || len(g.leaves) != 4 {
		t.Errorf("newCallGuard = %+v", g)
	}
	if g := newCallGuard([]byte("junk")); g.leaves != nil {
		t.Errorf("a binary that cannot be parsed must be guarded everywhere, got %+v", g)
	}
}

func TestParseImports(t *testing.T) {
	t.Parallel()
	got, err := parseImports(hostile(t, "import_global"))
	if err != nil {
		t.Fatal(err)
	}
	want := []wasmImport{
		{module: "hook", name: "input_read", kind: importFunc},
		{module: "hook", name: "output_write", kind: importFunc},
		{module: "env", name: "g", kind: importGlobal},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseImports = %+v, want %+v", got, want)
	}
	for _, bad := range [][]byte{nil, []byte("\x00asm\x01\x00\x00\x00\x02\x05\x01"), []byte("\x00asm\x01\x00\x00\x00\x02\x7f")} {
		if _, err := parseImports(bad); err == nil {
			t.Errorf("parseImports(%q) accepted a malformed module", bad)
		}
	}
}
