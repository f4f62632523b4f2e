//go:build !wasip1

package hookguest

// Handle registers h as the module's hook. Call it once, from an init
// function of the hook's main package (see the package documentation for
// why). A later call replaces the handler. A module with no handler answers
// every call with a hook error.
//
// This is the host build, where there is no module and nothing would call
// the handler: Handle does nothing. Test a handler with [Run].
func Handle(h HandlerFunc) {}

// Log sends msg to the host's log at the given level. The host may truncate
// long messages. Call it only from within a handler.
//
// This is the host build, where there is no host log: Log discards msg.
func Log(level Level, msg string) {}
