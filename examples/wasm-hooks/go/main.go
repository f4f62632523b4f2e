//go:build wasip1

// Command go is the example hook in Go: a title must not be all caps, and
// the slug is derived from the title. Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o ../build/go.wasm .
package main

import "github.com/strata-dev/strata/sdk/hookguest"

func main() {}

func init() {
	hookguest.Handle(func(ev *hookguest.Event) (*hookguest.Output, error) {
		hookguest.Log(hookguest.LevelInfo, "checked title")
		title, ok := ev.Data["title"].(string)
		if !ok {
			return &hookguest.Output{Allow: true, Data: ev.Data}, nil
		}
		if shouting(title) {
			return hookguest.Reject("/title", "title must not be all caps"), nil
		}
		ev.Data["slug"] = slug(title)
		return &hookguest.Output{Allow: true, Data: ev.Data}, nil
	})
}

// shouting reports whether s has an ASCII letter and no lowercase ASCII
// letter. Non-ASCII letters are not looked at.
func shouting(s string) bool {
	upper := false
	for _, c := range []byte(s) {
		switch {
		case 'a' <= c && c <= 'z':
			return false
		case 'A' <= c && c <= 'Z':
			upper = true
		}
	}
	return upper
}

// slug lowercases s (ASCII), turns every run of bytes other than [a-z0-9]
// into one '-' and trims '-' from both ends.
func slug(s string) string {
	b := make([]byte, 0, len(s))
	for _, c := range []byte(s) {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'a' <= c && c <= 'z' || '0' <= c && c <= '9' {
			b = append(b, c)
		} else if len(b) > 0 && b[len(b)-1] != '-' {
			b = append(b, '-')
		}
	}
	for len(b) > 0 && b[len(b)-1] == '-' {
		b = b[:len(b)-1]
	}
	return string(b)
}
