package hooks

import (
	"reflect"
	"testing"
)

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
