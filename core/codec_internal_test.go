package core

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// FuzzRecordCodec round-trips the storage codec: any meta record and any
// revision record decode to what was encoded, and decoding arbitrary bytes
// never panics.
func FuzzRecordCodec(f *testing.F) {
	f.Add("alice", "key:k1", "2026-01-02T03:04:05.678Z", "sha256:ab", "title\x00\"x\"", "posts-1", 3, 2, int64(1700000000000), true, []byte(`{"a":1}`))
	f.Add("", "", "", "", "", "", 1, 0, int64(0), false, []byte(`{}`))
	f.Add("é\u2028\\", "\x7f\t\n", "t", "h", "u", "r", 1<<20, -1, int64(-5), true, []byte("{\"x\":\"\n\"}"))
	f.Fuzz(func(t *testing.T, by, by2, at, hash, uniq, ref string, rev, parent int, ms int64, deleted bool, data []byte) {
		// Stored strings are always valid UTF-8: principals, times and
		// hashes come from Strata, and unique keys from validated JSON.
		by, by2, at, hash, uniq, ref = valid(by), valid(by2), valid(at), valid(hash), valid(uniq), valid(ref)
		meta := &metaRecord{
			Meta: Meta{CurrentRevision: rev, RevisionCount: rev, CreatedAt: at, CreatedBy: by,
				UpdatedAt: at, UpdatedBy: by2, Deleted: deleted, SchemaVersion: parent},
			Hash: hash, CreatedMS: ms,
		}
		if uniq != "" {
			meta.Unique = []string{uniq, uniq + "2"}
		}
		if ref != "" {
			meta.Refs = map[string]string{"author": ref, ref: by}
		}
		got, err := decodeMeta(encodeMeta(meta))
		if err != nil {
			t.Fatalf("decode meta: %v", err)
		}
		if !reflect.DeepEqual(got, meta) {
			t.Fatalf("meta round trip:\n got %+v\nwant %+v", got, meta)
		}

		r := &revisionRecord{
			Revision: Revision{Number: rev, CreatedAt: at, CreatedBy: by, DataHash: hash, Action: ActionUpdate,
				Hooks: []HookApproval{{Name: uniq, Stage: StageValidate, SHA256: hash}}, SchemaVersion: parent},
			Data: data,
		}
		if parent > 0 {
			r.Parent = &parent
		}
		back, err := decodeRevisionRecord(encodeRevisionRecord(r))
		if err != nil {
			t.Fatalf("decode revision: %v", err)
		}
		if !bytes.Equal(back.Data, r.Data) {
			t.Fatalf("data %q, want %q", back.Data, r.Data)
		}
		back.Data, r.Data = nil, nil
		if !reflect.DeepEqual(back, r) {
			t.Fatalf("revision round trip:\n got %+v\nwant %+v", back, r)
		}

		// Arbitrary bytes: an error or a record, never a panic.
		_, _ = decodeMeta(data)
		_, _ = decodeRevisionRecord(data)
	})
}

func valid(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// TestChangeRecord checks the change-log codec: a record round-trips, is
// JSON any decoder reads alike, and records written by encoding/json (in
// stores from before the hand-written encoder) decode the same.
func TestChangeRecord(t *testing.T) {
	for _, c := range []Change{
		{Seq: 1, Type: "posts", ID: "p1", Action: ActionCreate, Revision: 1, At: "2026-01-02T03:04:05.678Z", By: "key:k1"},
		{Seq: 1<<64 - 1, Type: "posts", Action: ActionType, Revision: 7, At: "2026-01-02T03:04:05Z"}, // no id, no by
		{Seq: 42, Type: "t", ID: "x", Action: ActionPurge, At: "t", By: "é \"q\" \\ \u2028 \x7f\t\n\b<>&"},
	} {
		t.Run(c.Action, func(t *testing.T) {
			raw := appendChange(nil, &c)
			got, err := decodeChange(raw)
			if err != nil || got != c {
				t.Errorf("decodeChange(appendChange) = %+v, %v; want %+v", got, err, c)
			}
			var std Change
			if err := json.Unmarshal(raw, &std); err != nil || std != c {
				t.Errorf("json.Unmarshal(%s) = %+v, %v; want %+v", raw, std, err, c)
			}
			old, err := json.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := decodeChange(old); err != nil || got != c {
				t.Errorf("decodeChange(%s) = %+v, %v; want %+v", old, got, err, c)
			}
		})
	}
	if _, err := decodeChange([]byte("nonsense")); err == nil {
		t.Error("decodeChange accepted a record that is not an object")
	}
}

// TestEventEncoding checks the hand-written encodings of a feed event and
// of a webhook's CloudEvent against what encoding/json writes of the same
// values (HTML escaping off, as the feed and webhooks always had it).
func TestEventEncoding(t *testing.T) {
	parent := 1
	res := &Resource{ID: "p1", Type: "posts", Data: json.RawMessage(`{"title":"<b>é</b> & \u2028","n":1.5e3}`),
		Meta: Meta{CurrentRevision: 2, RevisionCount: 2, CreatedAt: "2026-01-02T03:04:05Z", UpdatedAt: "2026-01-02T03:04:06Z", CreatedBy: "key:k1", SchemaVersion: 3},
		Revision: Revision{Number: 2, Parent: &parent, CreatedAt: "2026-01-02T03:04:06Z", DataHash: "sha256:00", Action: ActionUpdate,
			Hooks: []HookApproval{{Name: "h", Stage: "validate", SHA256: "ab"}}, SchemaVersion: 3}}
	for _, ev := range []FeedEvent{
		{Change: Change{Seq: 7, Type: "posts", ID: "p1", Action: ActionUpdate, Revision: 2, At: "2026-01-02T03:04:06Z", By: "key:k1"}, Resource: res},
		{Change: Change{Seq: 8, Type: "posts", ID: "p1", Action: ActionDelete, Revision: 2, At: "t"}},
		{Change: Change{Seq: 9, Type: "posts", ID: "p1", Action: ActionEvent, Revision: 2, At: "t", By: "<&>",
			Event: &ChangeEvent{Type: "post.flagged", Data: json.RawMessage(`{"why":"spam <x>"}`)}}},
		{Change: Change{Seq: 10, Type: "posts", Action: ActionType, Revision: 4, At: "t"}},
	} {
		t.Run(ev.Action, func(t *testing.T) {
			type plain FeedEvent // no MarshalJSON: what encoding/json writes
			want, err := encodeJSON(plain(ev))
			if err != nil {
				t.Fatal(err)
			}
			if got := ev.AppendJSON(nil); string(got) != string(want) {
				t.Errorf("AppendJSON:\n got %s\nwant %s", got, want)
			}
			source := "/api/" + ev.Type
			if ev.ID != "" {
				source += "/" + ev.ID
			} else {
				source = "/api/types/" + ev.Type
			}
			want, err = encodeJSON(struct {
				SpecVersion     string `json:"specversion"`
				ID              string `json:"id"`
				Source          string `json:"source"`
				Type            string `json:"type"`
				Time            string `json:"time"`
				DataContentType string `json:"datacontenttype"`
				Data            plain  `json:"data"`
			}{"1.0", fmt.Sprint(ev.Seq), source, "strata." + ev.Type + "." + ev.Action, ev.At, "application/json", plain(ev)})
			if err != nil {
				t.Fatal(err)
			}
			if got := cloudEvent(&ev); string(got) != string(want) {
				t.Errorf("cloudEvent:\n got %s\nwant %s", got, want)
			}
		})
	}
}

// FuzzRecordScan holds the scan of simple records to gjson: whatever the
// bytes, a record the scan accepts decodes as gjson decodes it.
func FuzzRecordScan(f *testing.F) {
	p := 1
	f.Add(encodeMeta(&metaRecord{Meta: Meta{CurrentRevision: 2, RevisionCount: 2, CreatedAt: "2026-01-02T03:04:05.678Z",
		CreatedBy: "key:k1", UpdatedAt: "t", Deleted: true, SchemaVersion: 1}, Hash: "sha256:ab", CreatedMS: 1700000000000}))
	f.Add(encodeMeta(&metaRecord{Unique: []string{"a"}, Refs: map[string]string{"a": "b"}}))
	f.Add(encodeRevisionRecord(&revisionRecord{Revision: Revision{Number: 2, Parent: &p, CreatedAt: "t", DataHash: "h", Action: ActionUpdate, Hooks: noHooks}}))
	f.Add([]byte(`{"number":-0,"parent":null,"hooks":[],"x":1}`))
	f.Add([]byte(`{"deleted":1,"current_revision":"3","created_ms":007}`))
	f.Add([]byte(`{"hash":"a\"b","created_at":"é"}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		if m, ok := scanMeta(raw); ok {
			if want := decodeMetaSlow(raw); !reflect.DeepEqual(m, want) {
				t.Fatalf("meta %q:\n scan %+v\ngjson %+v", raw, m, want)
			}
		}
		if r, ok := scanRevision(raw); ok {
			if want := decodeRevisionSlow(raw); !reflect.DeepEqual(r, want) {
				t.Fatalf("revision %q:\n scan %+v\ngjson %+v", raw, r, want)
			}
		}
	})
}

// TestRecordScanTakesWhatStrataWrites checks that the records Strata
// writes for a plain resource take the scan, not gjson.
func TestRecordScanTakesWhatStrataWrites(t *testing.T) {
	p := 1
	meta := encodeMeta(&metaRecord{Meta: Meta{CurrentRevision: 2, RevisionCount: 2, CreatedAt: "2026-01-02T03:04:05.678Z",
		CreatedBy: "key:k1", UpdatedAt: "2026-01-02T03:04:05.678Z", SchemaVersion: 1}, Hash: "sha256:ab", CreatedMS: 1700000000000})
	if _, ok := scanMeta(meta); !ok {
		t.Errorf("meta %s: not scanned", meta)
	}
	rev := encodeRevisionRecord(&revisionRecord{Revision: Revision{Number: 2, Parent: &p, CreatedAt: "t", DataHash: "h", Action: ActionUpdate, Hooks: noHooks}})
	info, _, _ := bytes.Cut(rev, []byte("\n"))
	if _, ok := scanRevision(info); !ok {
		t.Errorf("revision %s: not scanned", info)
	}
}
