package core

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/tidwall/gjson"

	"github.com/strata-dev/strata/sdk/storage"
)

// Import reads an export (export.go) back. It makes two passes over the
// file, so its memory is bounded by one line and one batch, not by the
// file:
//
//  1. Validation: every line is parsed and checked (its JSON, kind, type,
//     id, meta, revision numbers and parents, times, the hash of every
//     revision's data against its data_hash, the size of the data) and the
//     ids are looked up in the store. The first bad line fails the import
//     with an ErrInvalid naming its number; an id that exists fails it with
//     ErrConflict, unless OnConflict says to skip or replace. Nothing has
//     been written then.
//  2. Writing: the lines are read again and written in batches of at most
//     importBatchRevisions revisions (or one resource), one write
//     transaction each. Every imported resource gets one change-log entry
//     (a new seq; action create, update when it replaced one, delete when
//     it was exported deleted) naming its current revision, so the search
//     index, the feed and webhooks see it like any write.
//
// Within a file, the resources of a type must come in ascending id order,
// as Export writes them: that is how duplicates are found in pass 1
// without remembering every id. What pass 1 cannot know is a unique value
// taken by another resource (in the store or earlier in the file): such a
// conflict fails the import in pass 2, naming the line, after the batches
// before it were written. References are imported as they are, without
// checking that their targets exist: an export of one type points at
// resources of others.

// Conflict modes of an import.
const (
	// OnConflictFail refuses an import holding an id that exists.
	OnConflictFail = ""
	// OnConflictSkip keeps the existing resource and skips the imported one.
	OnConflictSkip = "skip"
	// OnConflictReplace replaces the existing resource, with all its
	// revisions, by the imported one.
	OnConflictReplace = "replace"
)

// DefaultMaxImportLine is the longest line Import accepts when
// ImportOptions.MaxLine is zero: one resource with all its revisions.
const DefaultMaxImportLine = 64 << 20

// importBatchRevisions bounds the revisions one write transaction of an
// import stores.
const importBatchRevisions = 2000

// ImportOptions qualify an import.
type ImportOptions struct {
	// Type imports into one type: every line must be a resource of it, and
	// type definitions are refused. Empty accepts definitions and
	// resources of any type.
	Type string
	// OnConflict is OnConflictFail, OnConflictSkip or OnConflictReplace,
	// for an id that exists already. A type definition that exists with a
	// different definition is a conflict too; replace updates it.
	OnConflict string
	// MaxLine bounds a line's length; zero means DefaultMaxImportLine.
	MaxLine int
}

// ImportResult counts what an import did.
type ImportResult struct {
	Types     int `json:"types"`
	Resources int `json:"resources"`
	Revisions int `json:"revisions"`
	Skipped   int `json:"skipped"`
	Replaced  int `json:"replaced"`
}

// importedResource is one parsed resource line.
type importedResource struct {
	line    int
	typ, id string
	meta    Meta
	revs    []*revisionRecord
	current *revisionRecord
}

// Import reads NDJSON from r, as Export writes it, validates all of it,
// then writes it (see above). r is read twice: it is rewound with Seek
// between the passes. Only administrators (and System) may import.
func (m *Manager) Import(ctx context.Context, r io.ReadSeeker, o ImportOptions) (ImportResult, error) {
	var res ImportResult
	by := PrincipalFrom(ctx)
	if err := requireAdmin(by); err != nil {
		return res, err
	}
	if m.closed.Load() {
		return res, ErrClosed
	}
	switch o.OnConflict {
	case OnConflictFail, OnConflictSkip, OnConflictReplace:
	default:
		return res, errorf(ErrInvalid, "on_conflict %q: want skip or replace", o.OnConflict)
	}
	if o.Type != "" {
		if _, err := m.lookupType(o.Type); err != nil {
			return res, err
		}
	}
	if o.MaxLine <= 0 {
		o.MaxLine = DefaultMaxImportLine
	}
	// Pass 1: validate everything, write nothing.
	im := &importer{m: m, o: o, defs: map[string]*compiledType{}, defLines: map[string]int{}, lastID: map[string]string{}}
	if err := im.readLines(ctx, r, im.check); err != nil {
		return res, err
	}
	if err := im.typesDone(); err != nil {
		return res, err
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return res, fmt.Errorf("import: rewind: %w", err)
	}
	// Pass 2: write.
	im.validated = true
	im.lastID = map[string]string{}
	if err := im.readLines(ctx, r, im.write); err != nil {
		return im.res, err
	}
	if err := im.finishTypes(ctx); err != nil {
		return im.res, err
	}
	if err := im.flush(ctx); err != nil {
		return im.res, err
	}
	return im.res, nil
}

// importer carries an import's state across lines.
type importer struct {
	m         *Manager
	o         ImportOptions
	validated bool // pass 2
	// defs are the type definitions of the file, compiled in pass 1.
	defs         map[string]*compiledType
	defLines     map[string]int
	typesChecked bool
	// pending are the definitions pass 2 created without the references
	// to types not created yet; they get them once all types are.
	pending []Type
	// lastID is the last id seen per type, to enforce ascending order.
	lastID      map[string]string
	sawResource bool

	batch     []*importedResource
	batchRevs int
	res       ImportResult
}

// readLines calls fn with each line of r and its number, from 1. Empty
// lines are skipped.
func (im *importer) readLines(ctx context.Context, r io.Reader, fn func(ctx context.Context, n int, line []byte) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var line []byte
	for n := 1; ; n++ {
		line = line[:0]
		var err error
		for {
			var chunk []byte
			chunk, err = br.ReadSlice('\n')
			line = append(line, chunk...)
			if len(line) > im.o.MaxLine {
				return errorf(ErrInvalid, "import line %d: longer than %d bytes", n, im.o.MaxLine)
			}
			if !errors.Is(err, bufio.ErrBufferFull) {
				break
			}
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("import: read line %d: %w", n, err)
		}
		if t := bytes.TrimSpace(line); len(t) > 0 {
			if ferr := fn(ctx, n, t); ferr != nil {
				return ferr
			}
		}
		if err != nil { // io.EOF
			return nil
		}
		if n%1000 == 0 {
			if cerr := ctx.Err(); cerr != nil {
				return cerr
			}
		}
	}
}

func lineError(n int, format string, args ...any) error {
	return errorf(ErrInvalid, "import line %d: %s", n, fmt.Sprintf(format, args...))
}

// check is pass 1 for one line.
func (im *importer) check(ctx context.Context, n int, line []byte) error {
	kind, err := lineKind(n, line)
	if err != nil {
		return err
	}
	if kind == exportKindType {
		return im.checkType(n, line)
	}
	if err := im.typesDone(); err != nil {
		return err
	}
	r, err := im.parseResource(n, line)
	if err != nil {
		return err
	}
	var exists bool
	err = im.m.store.View(ctx, func(tx storage.Tx) error {
		_, err := tx.Get(metaBucket(r.typ), []byte(r.id))
		exists = err == nil
		if err != nil && !isNotFound(err) {
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("import line %d: %w", n, err)
	}
	if exists && im.o.OnConflict == OnConflictFail {
		return &Error{Kind: ErrConflict, Detail: fmt.Sprintf("import line %d: %s/%s exists; nothing was imported (on_conflict=skip or replace decides)", n, r.typ, r.id)}
	}
	return nil
}

func lineKind(n int, line []byte) (string, error) {
	if !gjson.ValidBytes(line) {
		return "", lineError(n, "not valid JSON")
	}
	if line[0] != '{' {
		return "", lineError(n, "not a JSON object")
	}
	kind := gjson.GetBytes(line, "kind")
	switch kind.String() {
	case exportKindType, exportKindResource:
		return kind.String(), nil
	}
	return "", lineError(n, `"kind" is %s: want "type" or "resource"`, kind.Raw)
}

// checkType validates a type line and keeps its definition for the lines
// that follow.
func (im *importer) checkType(n int, line []byte) error {
	if im.o.Type != "" {
		return lineError(n, "a type definition in the import of one type (import it through /api/import)")
	}
	if im.sawResource {
		return lineError(n, "a type definition after a resource: definitions come first")
	}
	def, err := parseTypeLine(n, line)
	if err != nil {
		return err
	}
	ct, err := compileType(def)
	if err != nil {
		return lineError(n, "type %s: %v", def.Name, err)
	}
	if _, dup := im.defs[def.Name]; dup {
		return lineError(n, "type %s is defined twice", def.Name)
	}
	if err := checkNewTypeName(def.Name); err != nil {
		return lineError(n, "%v", err)
	}
	if err := im.m.checkHookModules(ct.def); err != nil {
		return lineError(n, "type %s: %v", def.Name, err)
	}
	if cur, err := im.m.Type(def.Name); err == nil && !sameDefinition(cur, def) && im.o.OnConflict != OnConflictReplace {
		return &Error{Kind: ErrConflict, Detail: fmt.Sprintf("import line %d: type %s exists with another definition; nothing was imported (on_conflict=replace updates it)", n, def.Name)}
	}
	im.defs[def.Name] = ct
	im.defLines[def.Name] = n
	return nil
}

// typesDone checks, once every definition of the file is read, that their
// references name types stored or defined in the file.
func (im *importer) typesDone() error {
	if im.typesChecked {
		return nil
	}
	im.typesChecked = true
	for _, name := range slices.Sorted(maps.Keys(im.defs)) {
		ct := im.defs[name]
		for _, f := range slices.Sorted(maps.Keys(ct.def.References)) {
			target := ct.def.References[f].Type
			if _, inFile := im.defs[target]; inFile {
				continue
			}
			if _, err := im.m.lookupType(target); err != nil {
				return lineError(im.defLines[name], "type %s: reference %s names type %q, which is neither stored nor defined in the file", name, f, target)
			}
		}
	}
	return nil
}

func parseTypeLine(n int, line []byte) (Type, error) {
	var l struct {
		Definition json.RawMessage `json:"definition"`
	}
	var def Type
	if err := json.Unmarshal(line, &l); err != nil || len(l.Definition) == 0 {
		return def, lineError(n, `a type line holds its definition under "definition"`)
	}
	if err := json.Unmarshal(l.Definition, &def); err != nil {
		return def, lineError(n, "type definition: %v", jsonError(err))
	}
	return def, nil
}

// typeOf is the compiled type a resource line names: defined earlier in
// the file, or stored.
func (im *importer) typeOf(name string) *compiledType {
	if ct := im.defs[name]; ct != nil && !im.validated {
		return ct
	}
	ct, _ := im.m.lookupType(name)
	return ct
}

// parseResource parses and checks a resource line.
func (im *importer) parseResource(n int, line []byte) (*importedResource, error) {
	im.sawResource = true
	g := gjson.ParseBytes(line)
	r := &importedResource{line: n, typ: g.Get("type").String(), id: g.Get("id").String()}
	if im.o.Type != "" && r.typ != im.o.Type {
		return nil, lineError(n, "a resource of type %q in the import of type %s", r.typ, im.o.Type)
	}
	if im.typeOf(r.typ) == nil {
		return nil, lineError(n, "unknown type %q", r.typ)
	}
	if !validID(r.id) {
		return nil, lineError(n, "id %q is not [A-Za-z0-9_-]{1,128} or is reserved", r.id)
	}
	if last, ok := im.lastID[r.typ]; ok && r.id <= last {
		return nil, lineError(n, "%s/%s comes after %s: the resources of a type come once each, in ascending id order, as export writes them", r.typ, r.id, last)
	}
	im.lastID[r.typ] = r.id
	mg := g.Get("meta")
	if !mg.IsObject() {
		return nil, lineError(n, `"meta" is not an object`)
	}
	mg.ForEach(func(k, v gjson.Result) bool {
		r.meta.setField(k.Str, v)
		return true
	})
	meta := &r.meta
	if meta.RevisionCount < 1 || meta.CurrentRevision < 1 || meta.CurrentRevision > meta.RevisionCount {
		return nil, lineError(n, "meta: current_revision %d and revision_count %d: want 1 <= current_revision <= revision_count", meta.CurrentRevision, meta.RevisionCount)
	}
	for _, t := range []struct{ name, v string }{{"created_at", meta.CreatedAt}, {"updated_at", meta.UpdatedAt}} {
		if _, err := time.Parse(time.RFC3339Nano, t.v); err != nil {
			return nil, lineError(n, "meta: %s %q is not an RFC 3339 time", t.name, t.v)
		}
	}
	revs := g.Get("revisions")
	if !revs.IsArray() {
		return nil, lineError(n, `"revisions" is not an array`)
	}
	var bad error
	prev := 0
	revs.ForEach(func(_, v gjson.Result) bool {
		rec, err := im.parseRevision(n, v, prev, meta.RevisionCount)
		if err != nil {
			bad = err
			return false
		}
		prev = rec.Number
		r.revs = append(r.revs, rec)
		if rec.Number == meta.CurrentRevision {
			r.current = rec
		}
		return true
	})
	if bad != nil {
		return nil, bad
	}
	if r.current == nil {
		return nil, lineError(n, "the current revision %d is not among the revisions", meta.CurrentRevision)
	}
	return r, nil
}

// parseRevision parses one revision of a resource line; prev is the
// number of the one before it, 0 for the first.
func (im *importer) parseRevision(n int, v gjson.Result, prev, count int) (*revisionRecord, error) {
	if !v.IsObject() {
		return nil, lineError(n, "a revision is not an object")
	}
	info, err := decodeRevision([]byte(v.Raw))
	if err != nil {
		return nil, lineError(n, "revision: %v", err)
	}
	num := info.Number
	switch {
	case num <= prev || num > count:
		return nil, lineError(n, "revision %d after %d: numbers ascend, from 1 to revision_count %d", num, prev, count)
	case num == 1 && info.Parent != nil:
		return nil, lineError(n, "revision 1 has a parent")
	case num > 1 && (info.Parent == nil || *info.Parent < 1 || *info.Parent >= num):
		return nil, lineError(n, "revision %d: parent must be an earlier revision", num)
	case info.SchemaVersion < 1:
		return nil, lineError(n, "revision %d: schema_version must be 1 or more", num)
	}
	if !slices.Contains([]string{ActionCreate, ActionUpdate}, info.Action) {
		return nil, lineError(n, "revision %d: action %q: want create or update", num, info.Action)
	}
	if _, err := time.Parse(time.RFC3339Nano, info.CreatedAt); err != nil {
		return nil, lineError(n, "revision %d: created_at %q is not an RFC 3339 time", num, info.CreatedAt)
	}
	data := v.Get("data")
	if !data.IsObject() {
		return nil, lineError(n, "revision %d: data is not a JSON object", num)
	}
	obj, err := decodeObject([]byte(data.Raw))
	if err != nil {
		return nil, lineError(n, "revision %d: data: %v", num, err)
	}
	raw, err := canonicalJSON(obj)
	if err != nil {
		return nil, lineError(n, "revision %d: data cannot be encoded: %v", num, err)
	}
	if len(raw) > im.m.maxDoc {
		return nil, lineError(n, "revision %d: data of %d bytes is over the limit of %d", num, len(raw), im.m.maxDoc)
	}
	if h := hashOf(raw); h != info.DataHash {
		return nil, lineError(n, "revision %d: data_hash %q does not match its data (%s)", num, info.DataHash, h)
	}
	if info.Hooks == nil {
		info.Hooks = noHooks
	}
	return &revisionRecord{Revision: info, Data: raw}, nil
}

// write is pass 2 for one line.
func (im *importer) write(ctx context.Context, n int, line []byte) error {
	kind, err := lineKind(n, line)
	if err != nil {
		return err
	}
	if kind == exportKindType {
		return im.writeType(ctx, n, line)
	}
	if err := im.finishTypes(ctx); err != nil {
		return err
	}
	r, err := im.parseResource(n, line)
	if err != nil {
		return err
	}
	if len(im.batch) > 0 && im.batchRevs+len(r.revs) > importBatchRevisions {
		if err := im.flush(ctx); err != nil {
			return err
		}
	}
	im.batch = append(im.batch, r)
	im.batchRevs += len(r.revs)
	return nil
}

// writeType creates (or, under replace, updates) a type of the file,
// keeping its schema version and times when it creates it.
func (im *importer) writeType(ctx context.Context, n int, line []byte) error {
	def, err := parseTypeLine(n, line)
	if err != nil {
		return err
	}
	cur, err := im.m.Type(def.Name)
	switch {
	case err == nil && sameDefinition(cur, def):
		return nil
	case err == nil:
		if _, err := im.m.putType(ctx, def, PrincipalFrom(ctx), true); err != nil {
			return fmt.Errorf("import line %d: update type %s: %w", n, def.Name, err)
		}
	case errors.Is(err, ErrNotFound):
		// A reference to a type of the file not created yet (a later
		// name, or a cycle) is added once every type exists.
		first := def
		for f, ref := range def.References {
			if ref.Type == def.Name {
				continue
			}
			if _, err := im.m.lookupType(ref.Type); err != nil {
				if first.References == nil || len(first.References) == len(def.References) {
					first.References = maps.Clone(def.References)
				}
				delete(first.References, f)
			}
		}
		if len(first.References) != len(def.References) {
			im.pending = append(im.pending, def)
		}
		if err := im.m.importType(ctx, first, false); err != nil {
			return fmt.Errorf("import line %d: create type %s: %w", n, def.Name, err)
		}
	default:
		return err
	}
	im.res.Types++
	return nil
}

// finishTypes gives the types pass 2 created without some references
// those references.
func (im *importer) finishTypes(ctx context.Context) error {
	for _, def := range im.pending {
		if err := im.m.importType(ctx, def, true); err != nil {
			return fmt.Errorf("import: add the references of type %s: %w", def.Name, err)
		}
	}
	im.pending = nil
	return nil
}

// importType creates (or, when replace, changes) a type as an export
// recorded it: its schema version and times are kept.
func (m *Manager) importType(ctx context.Context, def Type, replace bool) error {
	ct, err := compileType(def)
	if err != nil {
		return err
	}
	return m.changeTypes(ctx, PrincipalFrom(ctx), func(w *writer) error {
		if err := w.putType(ct, replace); err != nil {
			return err
		}
		next := *w.typeResult
		if def.SchemaVersion > 0 {
			next.def.SchemaVersion = def.SchemaVersion
		}
		if def.CreatedAt != "" {
			next.def.CreatedAt = def.CreatedAt
		}
		if def.UpdatedAt != "" {
			next.def.UpdatedAt = def.UpdatedAt
		}
		w.typeResult = &next
		return putJSON(w.tx, bucketTypes, []byte(def.Name), next.def)
	}, func(w *writer) { m.applyTypeChange(def.Name, w.typeResult) })
}

// flush writes the batch in one transaction.
func (im *importer) flush(ctx context.Context) error {
	if len(im.batch) == 0 {
		return nil
	}
	var res ImportResult
	for {
		_, err := im.m.update(ctx, PrincipalFrom(ctx), func(w *writer) error {
			if !im.m.typesSettled() { // as a write's commit checks
				return errTypeChanging
			}
			res = ImportResult{}
			for _, r := range im.batch {
				if err := w.importResource(r, im.o.OnConflict, &res); err != nil {
					return err
				}
			}
			return nil
		})
		if errors.Is(err, errTypeChanging) {
			im.m.awaitTypeChange()
			continue
		}
		if err != nil {
			return err
		}
		break
	}
	im.res.Resources += res.Resources
	im.res.Revisions += res.Revisions
	im.res.Skipped += res.Skipped
	im.res.Replaced += res.Replaced
	im.batch, im.batchRevs = im.batch[:0], 0
	return nil
}

// importResource stores one imported resource in w's transaction.
func (w *writer) importResource(r *importedResource, onConflict string, res *ImportResult) error {
	ct, err := w.m.lookupType(r.typ)
	if err != nil {
		return fmt.Errorf("import line %d: %w", r.line, err)
	}
	typ := ct.def.Name
	action := ActionCreate
	old, err := getMeta(w.tx, typ, r.id)
	switch {
	case err == nil && onConflict == OnConflictSkip:
		res.Skipped++
		return nil
	case err == nil && onConflict == OnConflictReplace:
		if err := w.removeForImport(ct, r.id, old); err != nil {
			return fmt.Errorf("import line %d: replace %s/%s: %w", r.line, typ, r.id, err)
		}
		action = ActionUpdate
		res.Replaced++
	case err == nil:
		return &Error{Kind: ErrConflict, Detail: fmt.Sprintf("import line %d: %s/%s exists", r.line, typ, r.id)}
	case !isNotFound(err):
		return err
	}
	obj, err := decodeStoredObject(r.current.Data)
	if err != nil {
		return fmt.Errorf("import line %d: %w", r.line, err)
	}
	created, _ := time.Parse(time.RFC3339Nano, r.meta.CreatedAt)
	meta := &metaRecord{Meta: r.meta, Hash: r.current.DataHash, CreatedMS: created.UnixMilli(),
		Unique: ct.uniqueKeys(obj), Refs: ct.references(obj)}
	if !meta.Deleted {
		if err := w.claimUnique(ct, r.id, nil, meta.Unique); err != nil {
			var ce *Error
			if errors.As(err, &ce) {
				ce.Detail = fmt.Sprintf("import line %d: %s/%s: %s (the lines before it were imported)", r.line, typ, r.id, ce.Detail)
			}
			return err
		}
	}
	for _, f := range slices.Sorted(maps.Keys(meta.Refs)) {
		if err := w.tx.Put(refBucket(ct.def.References[f].Type), refKey(meta.Refs[f], typ, r.id, f), nil); err != nil {
			return err
		}
	}
	for _, rev := range r.revs {
		if err := putRevision(w.tx, typ, r.id, rev); err != nil {
			return err
		}
		if err := w.importBlobRefs(ct, r.id, rev); err != nil {
			return fmt.Errorf("import line %d: %w", r.line, err)
		}
	}
	if err := putMeta(w.tx, typ, r.id, meta); err != nil {
		return err
	}
	if err := w.tx.Put(orderBucket(typ), orderKey(meta.CreatedMS, r.id), nil); err != nil {
		return err
	}
	live := int64(1)
	if meta.Deleted {
		live, action = 0, ActionDelete
	}
	w.count(typ, live, 1)
	res.Resources++
	res.Revisions += len(r.revs)
	return w.appendChange(typ, r.id, action, meta.CurrentRevision)
}

// importBlobRefs records the blobs an imported revision names, as a write
// does (linkBlobs), so that the collector keeps them. An export carries no
// blob bytes: a blob this server does not hold is recorded all the same,
// and kept once it is uploaded.
func (w *writer) importBlobRefs(ct *compiledType, id string, rev *revisionRecord) error {
	if len(ct.blobs.single)+len(ct.blobs.arrays) == 0 {
		return nil
	}
	obj, err := decodeStoredObject(rev.Data)
	if err != nil {
		return err
	}
	hashes, _ := ct.blobRefs(obj)
	for _, h := range hashes {
		if err := w.tx.Put(bucketBlobRefs, blobRefKey(h, ct.def.Name, id, rev.Number), nil); err != nil {
			return err
		}
	}
	return nil
}

// removeForImport removes a resource an import replaces: its index
// entries, revisions, meta and list entry. Unlike a purge it applies no
// on_delete policy: the resource comes back at once.
func (w *writer) removeForImport(ct *compiledType, id string, meta *metaRecord) error {
	typ := ct.def.Name
	if !meta.Deleted {
		if err := w.claimUnique(ct, id, meta.Unique, nil); err != nil {
			return err
		}
	}
	for _, f := range slices.Sorted(maps.Keys(meta.Refs)) {
		if ref, ok := ct.def.References[f]; ok {
			if err := w.tx.Delete(refBucket(ref.Type), refKey(meta.Refs[f], typ, id, f)); err != nil {
				return err
			}
		}
	}
	var revs [][]byte
	if err := w.tx.Scan(revBucket(typ), storage.PrefixRange(revPrefix(id)), func(k, _ []byte) bool {
		revs = append(revs, bytes.Clone(k))
		return true
	}); err != nil {
		return err
	}
	for _, k := range revs {
		if err := w.tx.Delete(revBucket(typ), k); err != nil {
			return err
		}
	}
	if err := w.tx.Delete(orderBucket(typ), orderKey(meta.CreatedMS, id)); err != nil {
		return err
	}
	if err := deleteStates(w.tx, typ, id); err != nil {
		return err
	}
	live := int64(-1)
	if meta.Deleted {
		live = 0
	}
	w.count(typ, live, -1)
	return nil
}
