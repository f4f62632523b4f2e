package core

import (
	"hash/maphash"
	"sync/atomic"
)

// A read of a resource needs its meta, which names the current revision,
// and then that revision: two round trips on a store behind a network.
// The reader asks for both at once (storage.Tx.GetKeys) by guessing the
// revision's number, and reads it again only when the meta names
// another. Both come from the same transaction, so a wrong guess costs a
// round trip and never a wrong answer: the hints below are only guesses.

// hintSlots is the size of revHints: a few hundred kilobytes at most.
const hintSlots = 4096

// revHint is the current revision a read last found for typ/id.
type revHint struct {
	typ, id string
	n       int
}

// revHints remembers the current revision of recently read resources, in
// a table where a resource overwrites another with the same slot: bounded,
// and without locks. It is shared by every Manager of the process, which
// costs them nothing but a wrong guess now and then.
var revHints struct {
	seed  maphash.Seed
	slots [hintSlots]atomic.Pointer[revHint]
}

func init() { revHints.seed = maphash.MakeSeed() }

func hintSlot(typ, id string) *atomic.Pointer[revHint] {
	var h maphash.Hash
	h.SetSeed(revHints.seed)
	h.WriteString(typ)
	h.WriteByte(0)
	h.WriteString(id)
	return &revHints.slots[h.Sum64()%hintSlots]
}

// guessRevision is the current revision of typ/id last seen, or 1.
func guessRevision(typ, id string) int {
	if h := hintSlot(typ, id).Load(); h != nil && h.typ == typ && h.id == id {
		return h.n
	}
	return 1
}

// noteRevision records that typ/id's current revision is n.
func noteRevision(typ, id string, n int) {
	s := hintSlot(typ, id)
	if h := s.Load(); h != nil && h.typ == typ && h.id == id && h.n == n {
		return
	}
	s.Store(&revHint{typ: typ, id: id, n: n})
}
