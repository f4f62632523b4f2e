package core

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/strata-dev/strata/sdk/storage"
)

// Export and import (SPEC §9) move resources with their whole history as
// NDJSON, one JSON document a line:
//
//	{"kind":"type","definition":<type definition>}
//	{"kind":"resource","type":"posts","id":"…","meta":{<meta>},"revisions":[<revision with "data">, …]}
//
// Every type's definition comes first (only in an export of every type),
// then the resources of each type in ascending id order, each with its
// meta and every revision still stored, oldest first: number, parent (the
// switch tree), author, time, action, hooks, schema version, data hash and
// data. A revision retention pruned is absent; the numbers of the others
// are kept.
//
// # Transactions
//
// An export reads the store in short read transactions, each of at most
// exportPageBytes of output (or one resource, when a single one is
// bigger), and writes that page to its writer only after the transaction
// has ended. A slow reader therefore never holds a transaction open, and
// bbolt can reuse the pages writes free meanwhile (a long read
// transaction would pin them and make the file grow). The price is that
// an export is not a snapshot of one instant: each resource is consistent
// in itself, but one written during the export may appear at its old or
// its new state. A point-in-time copy is what the online backup is for.

// Line kinds of an export.
const (
	exportKindType     = "type"
	exportKindResource = "resource"
)

// exportPageBytes is the output one read transaction of an export gathers.
const exportPageBytes = 1 << 20

// ExportOptions select what Export writes.
type ExportOptions struct {
	// Type exports one type's resources, without its definition. Empty
	// exports every type: the definitions first, then the resources.
	Type string
}

// ExportResult counts what an export wrote.
type ExportResult struct {
	Types     int
	Resources int
	Revisions int
}

// Export writes the resources of one type, or every type with their
// definitions, to w as NDJSON (see the format above). Only administrators
// (and System) may export: an export holds every revision of every
// resource, hidden fields included. An error from w ends the export; what
// was written before stays written, so a reader tells a complete export
// from a cut one by the response's end, not by its lines.
func (m *Manager) Export(ctx context.Context, w io.Writer, o ExportOptions) (ExportResult, error) {
	var res ExportResult
	if err := requireAdmin(PrincipalFrom(ctx)); err != nil {
		return res, err
	}
	var types []Type
	if o.Type != "" {
		def, err := m.Type(o.Type)
		if err != nil {
			return res, err
		}
		types = []Type{def}
	} else {
		if m.closed.Load() {
			return res, ErrClosed
		}
		types = m.Types()
		var buf []byte
		for _, def := range types {
			raw, err := encodeJSON(def)
			if err != nil {
				return res, fmt.Errorf("export: encode type %s: %w", def.Name, err)
			}
			buf = append(buf, `{"kind":"type","definition":`...)
			buf = append(buf, raw...)
			buf = append(buf, "}\n"...)
			res.Types++
		}
		if _, err := w.Write(buf); err != nil {
			return res, fmt.Errorf("export: write: %w", err)
		}
	}
	buf := make([]byte, 0, exportPageBytes+exportPageBytes/4)
	for _, def := range types {
		var after []byte // the last id written; nil before the first
		for {
			buf = buf[:0]
			var done bool
			var err error
			buf, after, done, err = m.exportPage(ctx, def.Name, after, buf, &res)
			if err != nil {
				return res, fmt.Errorf("export %s: %w", def.Name, err)
			}
			if len(buf) > 0 {
				if _, err := w.Write(buf); err != nil {
					return res, fmt.Errorf("export: write: %w", err)
				}
			}
			if done {
				break
			}
			if err := ctx.Err(); err != nil {
				return res, err
			}
		}
	}
	return res, nil
}

// exportPage appends to buf, in one read transaction, the lines of the
// resources of typ after the id after, until exportPageBytes are
// gathered. It returns the last id appended and whether the type is done.
func (m *Manager) exportPage(ctx context.Context, typ string, after, buf []byte, res *ExportResult) ([]byte, []byte, bool, error) {
	done := true
	var last []byte
	var n ExportResult
	err := m.store.View(ctx, func(tx storage.Tx) error {
		buf, last, done, n = buf[:0], nil, true, ExportResult{}
		var start []byte
		if after != nil {
			start = append(bytes.Clone(after), 0) // the next key after it
		}
		var inner error
		err := tx.Scan(metaBucket(typ), storage.Range{Start: start}, func(k, v []byte) bool {
			if len(buf) >= exportPageBytes {
				done = false
				return false
			}
			meta, err := decodeMeta(v)
			if err != nil {
				inner = fmt.Errorf("decode meta of %s: %w", k, err)
				return false
			}
			var revs int
			buf, revs, inner = appendExportLine(buf, tx, typ, string(k), meta)
			if inner != nil {
				return false
			}
			last = append(last[:0], k...)
			n.Resources++
			n.Revisions += revs
			return true
		})
		if err != nil {
			return err
		}
		return inner
	})
	if err != nil {
		return buf, after, false, err
	}
	res.Resources += n.Resources
	res.Revisions += n.Revisions
	if last == nil {
		return buf, after, true, nil
	}
	return buf, last, done, nil
}

// appendExportLine appends the line of one resource: its meta and every
// stored revision with its data.
func appendExportLine(dst []byte, tx storage.Tx, typ, id string, meta *metaRecord) ([]byte, int, error) {
	dst = append(dst, `{"kind":"resource","type":`...)
	dst = appendString(dst, typ)
	dst = append(dst, `,"id":`...)
	dst = appendString(dst, id)
	dst = append(dst, `,"meta":{`...)
	dst = meta.Meta.appendFields(dst)
	dst = append(dst, `},"revisions":[`...)
	n := 0
	var inner error
	err := tx.Scan(revBucket(typ), storage.PrefixRange(revPrefix(id)), func(_, v []byte) bool {
		rec, err := decodeRevisionRecord(v)
		if err != nil {
			inner = fmt.Errorf("decode a revision of %s: %w", id, err)
			return false
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		dst = appendRevisionWithData(dst, rec)
		n++
		return true
	})
	if err == nil {
		err = inner
	}
	return append(dst, "]}\n"...), n, err
}

// appendRevisionWithData appends a revision's info with its data as one
// more member.
func appendRevisionWithData(dst []byte, rec *revisionRecord) []byte {
	dst = rec.Revision.AppendJSON(dst)
	dst = append(dst[:len(dst)-1], `,"data":`...) // drop the closing brace
	dst = append(dst, rec.Data...)
	return append(dst, '}')
}
