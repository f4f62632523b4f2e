package core

import (
	"encoding/json"
	"time"
)

// Resource is one resource at one revision: the envelope of every
// single-resource response.
type Resource struct {
	ID       string          `json:"id"`
	Type     string          `json:"type"`
	Data     json.RawMessage `json:"data"`
	Meta     Meta            `json:"meta"`
	Revision Revision        `json:"revision"`
	// Expand holds, by reference field, the resources the data points at
	// that a read asked to expand and its reader may read (SPEC §3
	// expand=); nil when none.
	Expand map[string]*Resource `json:"expand,omitempty"`
}

// Meta is a resource's mutable bookkeeping.
type Meta struct {
	CurrentRevision int    `json:"current_revision"`
	RevisionCount   int    `json:"revision_count"`
	CreatedAt       string `json:"created_at"`
	CreatedBy       string `json:"created_by,omitempty"`
	UpdatedAt       string `json:"updated_at"`
	UpdatedBy       string `json:"updated_by,omitempty"`
	Deleted         bool   `json:"deleted"`
	SchemaVersion   int    `json:"schema_version"`
}

// Revision describes one immutable revision (without its data).
type Revision struct {
	Number int `json:"number"`
	// Parent is the revision this one was written over; nil for the first.
	Parent        *int           `json:"parent"`
	CreatedAt     string         `json:"created_at"`
	CreatedBy     string         `json:"created_by,omitempty"`
	DataHash      string         `json:"data_hash"`
	Action        string         `json:"action"`
	Hooks         []HookApproval `json:"hooks"`
	SchemaVersion int            `json:"schema_version"`
}

// HookApproval records that a hook module approved a write: which module,
// at which stage, and the SHA-256 of its code.
type HookApproval struct {
	Name   string `json:"name"`
	Stage  string `json:"stage"`
	SHA256 string `json:"sha256"`
}

// Change is one entry of the change log.
type Change struct {
	Seq    uint64 `json:"seq"`
	Type   string `json:"type"`
	ID     string `json:"id,omitempty"`
	Action string `json:"action"`
	// Revision is the resource's current revision after the change (the
	// type's schema version for "type" changes; 0 for purges and drops).
	Revision int    `json:"revision"`
	At       string `json:"at"`
	By       string `json:"by,omitempty"`
	// Event is the domain event of an "event" entry: one a hook published
	// with the write of the resource Type/ID (SPEC §8); nil otherwise.
	Event *ChangeEvent `json:"event,omitempty"`
}

// ChangeEvent is a domain event a hook published with a write. It is
// stored in the change log, in the write's transaction, as an entry of
// action "event" after the write's own entry, so it is delivered wherever
// changes are (GET /api/changes, GET /api/events, consumers).
type ChangeEvent struct {
	// Type names the event, such as "post.flagged".
	Type string `json:"type"`
	// Data is the event's payload: any JSON value, compact.
	Data json.RawMessage `json:"data"`
}

// Change-log and revision actions.
const (
	ActionCreate  = "create"
	ActionUpdate  = "update"
	ActionDelete  = "delete"
	ActionRestore = "restore"
	ActionPurge   = "purge"
	ActionSwitch  = "switch"
	ActionType    = "type"
	// ActionEvent marks a change-log entry that is a domain event a hook
	// published with a write (Change.Event), not a change of the resource.
	ActionEvent = "event"
)

// Principal is who performs an operation. The zero value is anonymous.
type Principal struct {
	ID    string   `json:"id"`
	Roles []string `json:"roles"`
	// system marks System, the trusted principal of the operator.
	system bool
}

// Referrer names a resource whose reference field points at another one.
type Referrer struct {
	Type  string `json:"type"`
	ID    string `json:"id"`
	Field string `json:"field"`
}

// metaRecord is what is stored for a resource besides its revisions.
type metaRecord struct {
	Meta
	// Hash is the data hash of the current revision.
	Hash string `json:"hash"`
	// CreatedMS orders the resource in its type's list.
	CreatedMS int64 `json:"created_ms"`
	// Unique and Refs are the index entries held for the current revision,
	// so they can be released without reading its data.
	Unique []string          `json:"unique,omitempty"`
	Refs   map[string]string `json:"refs,omitempty"`
}

// revisionRecord is one stored revision.
type revisionRecord struct {
	Revision
	Data json.RawMessage `json:"data"`
}

// timeLayout is RFC 3339 in UTC with milliseconds, the format of every time
// Strata shows.
const timeLayout = "2006-01-02T15:04:05.000Z"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// validID reports whether s can be a resource id: [A-Za-z0-9_-]{1,128},
// not a reserved word.
func validID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return s != "count" && s != "export" && s != "import"
}

// ValidID reports whether s is acceptable as a client-supplied resource id:
// [A-Za-z0-9_-]{1,128}, and not one of the reserved words count, export,
// import.
func ValidID(s string) bool { return validID(s) }

// ValidTypeName reports whether s is acceptable as a type name.
func ValidTypeName(s string) bool { return typeNamePattern.MatchString(s) }
