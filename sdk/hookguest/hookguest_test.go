package hookguest_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/strata-dev/strata/sdk/hookguest"
)

const envelope = `{"abi":1,"hook":"posts_validate","stage":"before_update","type":"posts","id":"0193",` +
	`"data":{"title":"Hi","n":12345678901234567890,"f":1.50},"previous":{"title":"Old"},` +
	`"principal":{"id":"alice","roles":["editor"]},"request":{"id":"r1","time":"2026-11-22T09:00:00Z"},` +
	`"config":{"max":3}}`

func TestRun(t *testing.T) {
	t.Parallel()
	errBoom := errors.New("boom")
	tests := []struct {
		name    string
		h       hookguest.HandlerFunc
		input   string
		want    string
		wantErr error // checked with errors.Is; nil means success
		anyErr  bool  // an error, not a sentinel
	}{
		{
			name:  "nil output allows",
			h:     func(*hookguest.Event) (*hookguest.Output, error) { return nil, nil },
			input: envelope,
			want:  `{"allow":true}`,
		},
		{
			name:  "reject",
			h:     func(*hookguest.Event) (*hookguest.Output, error) { return hookguest.Reject("/title", "no <b>"), nil },
			input: envelope,
			want:  `{"allow":false,"errors":[{"path":"/title","message":"no <b>"}]}`,
		},
		{
			name: "data keeps numbers exact",
			h: func(ev *hookguest.Event) (*hookguest.Output, error) {
				return &hookguest.Output{Allow: true, Data: ev.Data}, nil
			},
			input: envelope,
			want:  `{"allow":true,"data":{"f":1.50,"n":12345678901234567890,"title":"Hi"}}`,
		},
		{
			name: "empty data is kept",
			h: func(*hookguest.Event) (*hookguest.Output, error) {
				return &hookguest.Output{Allow: true, Data: map[string]any{}}, nil
			},
			input: envelope,
			want:  `{"allow":true,"data":{}}`,
		},
		{
			name: "events",
			h: func(*hookguest.Event) (*hookguest.Output, error) {
				return &hookguest.Output{Allow: true, Events: []hookguest.EmittedEvent{{Type: "post.flagged"}}}, nil
			},
			input: envelope,
			want:  `{"allow":true,"events":[{"type":"post.flagged"}]}`,
		},
		{
			name: "config of any type, no principal",
			h: func(ev *hookguest.Event) (*hookguest.Output, error) {
				if ev.Config != "strict" || ev.Principal.ID != "" {
					return nil, fmt.Errorf("config %v, principal %v", ev.Config, ev.Principal)
				}
				return nil, nil
			},
			input: `{"abi":1,"data":null,"config":"strict","request":{"id":"r","time":"t"}}`,
			want:  `{"allow":true}`,
		},
		{
			name:    "handler error",
			h:       func(*hookguest.Event) (*hookguest.Output, error) { return nil, errBoom },
			input:   envelope,
			wantErr: errBoom,
		},
		{
			name:   "handler panic",
			h:      func(*hookguest.Event) (*hookguest.Output, error) { panic("oops") },
			input:  envelope,
			anyErr: true,
		},
		{
			name:    "not an object",
			h:       func(*hookguest.Event) (*hookguest.Output, error) { return nil, nil },
			input:   `[1]`,
			wantErr: hookguest.ErrEnvelope,
		},
		{
			name:    "not json",
			h:       func(*hookguest.Event) (*hookguest.Output, error) { return nil, nil },
			input:   `{"abi":`,
			wantErr: hookguest.ErrEnvelope,
		},
		{
			name:    "no handler",
			input:   envelope,
			wantErr: hookguest.ErrNoHandler,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := hookguest.Run(tc.h, []byte(tc.input))
			switch {
			case tc.wantErr != nil || tc.anyErr:
				if err == nil || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			case string(out) != tc.want:
				t.Errorf("output\n got %s\nwant %s", out, tc.want)
			}
		})
	}
}

func TestRunDecodesEvent(t *testing.T) {
	t.Parallel()
	var got hookguest.Event
	if _, err := hookguest.Run(func(ev *hookguest.Event) (*hookguest.Output, error) {
		got = *ev
		return nil, nil
	}, []byte(envelope)); err != nil {
		t.Fatal(err)
	}
	want := hookguest.Event{
		ABI: 1, Hook: "posts_validate", Stage: "before_update", Type: "posts", ID: "0193",
		Data:      map[string]any{"title": "Hi", "n": jsonNumber("12345678901234567890"), "f": jsonNumber("1.50")},
		Previous:  map[string]any{"title": "Old"},
		Principal: hookguest.Principal{ID: "alice", Roles: []string{"editor"}},
		Request:   hookguest.Request{ID: "r1", Time: "2026-11-22T09:00:00Z"},
		Config:    map[string]any{"max": jsonNumber("3")},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("event\n got %#v\nwant %#v", got, want)
	}
}

func ExampleRun() {
	check := func(ev *hookguest.Event) (*hookguest.Output, error) {
		if ev.Data["title"] == "" {
			return hookguest.Reject("/title", "title is empty"), nil
		}
		return nil, nil
	}
	out, err := hookguest.Run(check, []byte(`{"abi":1,"stage":"validate","data":{"title":""}}`))
	fmt.Println(string(out), err)
	// Output: {"allow":false,"errors":[{"path":"/title","message":"title is empty"}]} <nil>
}

func jsonNumber(s string) json.Number { return json.Number(s) }
