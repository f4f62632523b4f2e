// Package webhook delivers Strata's webhooks over HTTP: it is the
// core.WebhookTransport that strata serve runs with.
//
// # Security
//
// A webhook's URL is chosen by an administrator, but a server that POSTs
// wherever it is told is a way into the network it runs in (SSRF): unless
// core.WebhookOptions.AllowPrivate, the address of every connection is
// checked as it is dialed, after name resolution, so neither a name that
// resolves to a private address nor one that changes its answer between a
// check and the connection (DNS rebinding) gets through. No proxy from the
// environment is used (it would dial for us, unchecked), and no redirect is
// followed: a 3xx is a failed delivery, like any answer but 2xx.
//
// # Signing
//
// Each delivery carries the Standard Webhooks headers: webhook-id (the
// same for every attempt of an entry), webhook-timestamp and
// webhook-signature, "v1," and the base64 HMAC-SHA256 of
// "id.timestamp.body" under the webhook's secret.
//
// # Cost
//
// A webhook delivers one entry at a time, in order, so a delivery is one
// request on one kept-alive connection. The client is fasthttp's, which
// writes and reads on the sending goroutine: a delivery to a receiver on
// loopback costs about a third of the CPU of net/http's client, whose
// connections run two goroutines each (docs/realtime.md, "Cost").
// Each webhook has its own sender and connection, so that stopping one
// (deleting it, shutting down) can close the connection of the delivery
// in flight and return at once.
package webhook
