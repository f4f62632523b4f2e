package core

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/strata-dev/strata/sdk/storage"
)

// Webhooks (SPEC §8). A webhook is an administrator's subscription of a
// URL to the change log: each one is a consumer of its own (named
// "webhook.<id>"), so it gets every entry at least once, in log order,
// one request in flight, and retries from the entry that failed with the
// consumer's exponential backoff and jitter. It sees what an
// administrator may read: the entry and the resource envelope, exactly
// as the event feed (GET /api/events) shows them to an administrator.
//
// A webhook failing without a break for WebhookOptions.DisableAfter is
// disabled: its consumer stops and keeps its position, so Resume
// continues from the first entry not delivered. Each attempt is recorded
// in a bounded delivery log.
//
// Storage: the webhook's definition, with its secret (needed to sign),
// in bucket webhooks; the delivery log in webhook_deliveries under
// "<id> 0x00 <attempt number, 8 bytes BE>", so a webhook's attempts are
// one key range, oldest first.

// Webhook states.
const (
	WebhookActive   = "active"
	WebhookDisabled = "disabled"
)

// Defaults of WebhookOptions.
const (
	DefaultWebhookDisableAfter = 24 * time.Hour
	DefaultWebhookTimeout      = 15 * time.Second
	DefaultWebhookBackoffMin   = time.Second
	DefaultWebhookBackoffMax   = time.Hour
	// WebhookDeliveryLogSize is how many attempts the delivery log keeps
	// per webhook: the newest ones.
	WebhookDeliveryLogSize = 1000
)

// WebhookOptions configure the delivery of webhooks. The zero value is
// ready to use.
type WebhookOptions struct {
	// AllowPrivate lets webhooks reach loopback, private, link-local
	// (cloud metadata among them) and other non-public addresses. Off, the
	// address actually dialed is checked at each delivery, so a name that
	// resolves to one (DNS rebinding included) is refused.
	AllowPrivate bool
	// DisableAfter is how long a webhook may fail without a success
	// before it is disabled; zero means DefaultWebhookDisableAfter.
	DisableAfter time.Duration
	// Timeout bounds one delivery attempt, from dialing to the end of the
	// response; zero means DefaultWebhookTimeout.
	Timeout time.Duration
	// BackoffMin and BackoffMax bound the wait between attempts: it
	// doubles from BackoffMin up to BackoffMax, and a random part of it
	// (full jitter) is waited. Zero means the defaults above.
	BackoffMin, BackoffMax time.Duration
}

func (o WebhookOptions) withDefaults() WebhookOptions {
	if o.DisableAfter <= 0 {
		o.DisableAfter = DefaultWebhookDisableAfter
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultWebhookTimeout
	}
	if o.BackoffMin <= 0 {
		o.BackoffMin = DefaultWebhookBackoffMin
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = DefaultWebhookBackoffMax
	}
	o.BackoffMax = max(o.BackoffMax, o.BackoffMin)
	return o
}

// WebhookTransport makes the senders that carry webhook deliveries over
// the network: package webhook is the HTTP one, which the composition
// root sets as Options.WebhookTransport.
type WebhookTransport interface {
	// NewSender returns the sender of one webhook's deliveries to url,
	// made one at a time; it is closed when the webhook stops.
	NewSender(url string, opts WebhookOptions) WebhookSender
}

// WebhookSender delivers one webhook's messages.
type WebhookSender interface {
	// Send delivers body, signed with key, as message msgID made at
	// time at, and returns the receiver's status (0 when there was none).
	// Anything but a 2xx is an error. It returns soon after ctx ends.
	Send(ctx context.Context, key []byte, msgID string, at time.Time, body []byte) (status int, err error)
	// Close releases the sender's connections.
	Close()
}

// Webhook is a webhook as administrators see it. Its secret is in no
// answer but the one that created it.
type Webhook struct {
	ID  string `json:"id"`
	URL string `json:"url"`
	// Types and Actions select the entries delivered; empty means all.
	Types     []string  `json:"types"`
	Actions   []string  `json:"actions"`
	State     string    `json:"state"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by,omitempty"`
	// Secret (whsec_…) is set only in the answer of CreateWebhook.
	Secret string `json:"secret,omitempty"`
	// FailingSince is when the current run of failures began; DisabledAt
	// when the webhook was disabled.
	FailingSince *time.Time `json:"failing_since,omitempty"`
	DisabledAt   *time.Time `json:"disabled_at,omitempty"`
	// Seq is the change-log position delivered up to, Lag how many
	// committed entries are past it.
	Seq uint64 `json:"seq"`
	Lag uint64 `json:"lag"`
}

// WebhookRequest is what CreateWebhook is given.
type WebhookRequest struct {
	URL     string   `json:"url"`
	Types   []string `json:"types"`
	Actions []string `json:"actions"`
}

// WebhookDelivery is one delivery attempt in the delivery log.
type WebhookDelivery struct {
	// Attempt numbers the webhook's attempts, from 1.
	Attempt uint64 `json:"attempt"`
	// Seq is the change-log entry delivered; MessageID its webhook-id
	// header, the same for every attempt of that entry.
	Seq       uint64    `json:"seq"`
	MessageID string    `json:"message_id"`
	At        time.Time `json:"at"`
	// DurationMS is how long the attempt took, in milliseconds.
	DurationMS float64 `json:"duration_ms"`
	// Status is the receiver's HTTP status, 0 when there was none; Error
	// says why the attempt failed, empty when it succeeded.
	Status int    `json:"status,omitempty"`
	Error  string `json:"error,omitempty"`
	OK     bool   `json:"ok"`
}

// webhookRecord is a webhook as stored.
type webhookRecord struct {
	ID           string     `json:"id"`
	URL          string     `json:"url"`
	Types        []string   `json:"types"`
	Actions      []string   `json:"actions"`
	Secret       string     `json:"secret"`
	State        string     `json:"state"`
	CreatedAt    time.Time  `json:"created_at"`
	CreatedBy    string     `json:"created_by,omitempty"`
	FailingSince *time.Time `json:"failing_since,omitempty"`
	DisabledAt   *time.Time `json:"disabled_at,omitempty"`
}

// webhookActions are the actions a webhook may select.
var webhookActions = []string{ActionCreate, ActionUpdate, ActionDelete, ActionRestore, ActionPurge,
	ActionSwitch, ActionType, "event"}

// webhookSet is the Manager's running webhooks.
type webhookSet struct {
	opts      WebhookOptions
	transport WebhookTransport
	// opMu serializes creation, deletion and resumption, so a webhook's
	// consumer and its stored state agree. mu guards runners, and is
	// never held while a consumer is stopped: a handler that disables
	// its webhook takes it, and Stop waits for the handler.
	opMu    sync.Mutex
	mu      sync.Mutex
	runners map[string]*webhookRunner
}

// webhookRunner delivers one webhook: its consumer's handler.
type webhookRunner struct {
	m        *Manager
	set      *webhookSet
	id       string
	url      string
	secret   []byte
	types    []string
	actions  []string
	consumer *Consumer
	sender   WebhookSender

	// Touched only by the consumer's goroutine (and by start, before it).
	failingSince *time.Time
	attempt      uint64 // the last attempt number logged
}

func webhookConsumerName(id string) string { return "webhook." + id }

// startWebhooks starts the consumer of every active webhook, at Open.
func (m *Manager) startWebhooks(ctx context.Context, opts WebhookOptions, transport WebhookTransport) error {
	opts = opts.withDefaults()
	m.webhooks = &webhookSet{opts: opts, transport: transport, runners: map[string]*webhookRunner{}}
	recs, err := m.webhookRecords(ctx)
	if err != nil {
		return fmt.Errorf("load webhooks: %w", err)
	}
	if transport == nil {
		return nil // a Manager opened for maintenance (strata reindex) delivers nothing
	}
	m.webhooks.opMu.Lock()
	defer m.webhooks.opMu.Unlock()
	for _, rec := range recs {
		if rec.State != WebhookActive {
			continue
		}
		if err := m.startWebhook(ctx, rec); err != nil {
			return err
		}
	}
	return nil
}

// closeWebhooks closes the senders of the webhooks, at Close, once the
// consumers have stopped.
func (m *Manager) closeWebhooks() {
	if m.webhooks == nil {
		return
	}
	set := m.webhooks
	set.mu.Lock()
	defer set.mu.Unlock()
	for _, r := range set.runners {
		r.sender.Close()
	}
}

// webhookRecords reads every stored webhook.
func (m *Manager) webhookRecords(ctx context.Context) ([]webhookRecord, error) {
	var recs []webhookRecord
	err := m.store.View(ctx, func(tx storage.Tx) error {
		recs = recs[:0]
		var decodeErr error
		err := tx.Scan(bucketWebhooks, storage.Range{}, func(k, v []byte) bool {
			var rec webhookRecord
			if decodeErr = json.Unmarshal(v, &rec); decodeErr != nil {
				decodeErr = fmt.Errorf("decode webhook %s: %w", k, decodeErr)
				return false
			}
			recs = append(recs, rec)
			return true
		})
		if err != nil {
			return err
		}
		return decodeErr
	})
	return recs, err
}

// startWebhook starts rec's consumer. The caller holds webhooks.opMu.
func (m *Manager) startWebhook(ctx context.Context, rec webhookRecord) error {
	set := m.webhooks
	secret, err := decodeWebhookSecret(rec.Secret)
	if err != nil {
		return fmt.Errorf("webhook %s: %w", rec.ID, err)
	}
	if set.transport == nil {
		return errorf(ErrInvalid, "webhook %s: this server delivers no webhooks: it runs without a webhook transport", rec.ID)
	}
	r := &webhookRunner{m: m, set: set, id: rec.ID, url: rec.URL, secret: secret,
		types: rec.Types, actions: rec.Actions, failingSince: rec.FailingSince}
	if r.attempt, err = m.lastWebhookAttempt(ctx, rec.ID); err != nil {
		return err
	}
	r.sender = set.transport.NewSender(rec.URL, set.opts)
	// Held until the runner knows its consumer: its handler may disable
	// it at once (a webhook loaded already failing for long).
	set.mu.Lock()
	defer set.mu.Unlock()
	c, err := m.StartConsumer(ConsumerConfig{
		Name:       webhookConsumerName(rec.ID),
		Title:      "webhook " + rec.ID,
		Handle:     r.handle,
		Types:      r.wantedTypes,
		PageSize:   100,
		Lease:      true,
		Taken:      r.taken,
		BackoffMin: set.opts.BackoffMin,
		BackoffMax: set.opts.BackoffMax,
		Jitter:     true,
	})
	if err != nil {
		r.sender.Close()
		return fmt.Errorf("start webhook %s: %w", rec.ID, err)
	}
	r.consumer = c
	set.runners[rec.ID] = r
	return nil
}

// taken reloads what another node that delivered the webhook meanwhile
// changed: the attempt count of the delivery log and the failure streak.
func (r *webhookRunner) taken(ctx context.Context) error {
	n, err := r.m.lastWebhookAttempt(ctx, r.id)
	if err != nil {
		return err
	}
	rec, err := r.m.webhookRecord(ctx, r.id)
	if err != nil {
		return err
	}
	r.attempt, r.failingSince = n, rec.FailingSince
	return nil
}

// lastWebhookAttempt returns the number of the newest attempt in id's
// delivery log, 0 when it is empty.
func (m *Manager) lastWebhookAttempt(ctx context.Context, id string) (uint64, error) {
	var n uint64
	err := m.store.View(ctx, func(tx storage.Tx) error {
		r := storage.PrefixRange(deliveryPrefix(id))
		r.Reverse = true
		return tx.Scan(bucketWebhookDeliveries, r, func(k, _ []byte) bool {
			n = binary.BigEndian.Uint64(k[len(k)-8:])
			return false
		})
	})
	if err != nil {
		return 0, fmt.Errorf("read the delivery log of webhook %s: %w", id, err)
	}
	return n, nil
}

func deliveryPrefix(id string) []byte { return append([]byte(id), 0) }

func deliveryKey(id string, attempt uint64) []byte {
	return binary.BigEndian.AppendUint64(deliveryPrefix(id), attempt)
}

// checkWebhookRequest validates a new webhook's URL and selection.
func checkWebhookRequest(req WebhookRequest) error {
	if len(req.URL) > 2048 {
		return errorf(ErrInvalid, "url is longer than 2048 bytes")
	}
	u, err := url.Parse(req.URL)
	if err != nil || req.URL == "" {
		return errorf(ErrInvalid, "url %q is not a URL", req.URL)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errorf(ErrInvalid, "url %q: a webhook is delivered over http or https only", req.URL)
	}
	if u.Host == "" || u.Hostname() == "" {
		return errorf(ErrInvalid, "url %q has no host", req.URL)
	}
	if u.User != nil {
		return errorf(ErrInvalid, "url %q: credentials in the URL are not accepted", req.URL)
	}
	for _, a := range req.Actions {
		if !slices.Contains(webhookActions, a) {
			return errorf(ErrInvalid, "unknown action %q: use %s", a, strings.Join(webhookActions, ", "))
		}
	}
	return nil
}

// CreateWebhook creates a webhook (administrators only) and starts its
// delivery: it gets the entries committed from now on. The answer holds
// the secret that signs its deliveries; nothing else ever shows it.
func (m *Manager) CreateWebhook(ctx context.Context, req WebhookRequest) (*Webhook, error) {
	if m.closed.Load() {
		return nil, ErrClosed
	}
	if err := RequireAdmin(ctx); err != nil {
		return nil, err
	}
	if err := checkWebhookRequest(req); err != nil {
		return nil, err
	}
	if m.webhooks.transport == nil {
		return nil, errorf(ErrInvalid, "this server delivers no webhooks: it runs without a webhook transport")
	}
	types := slices.Clone(req.Types)
	for _, t := range types {
		if _, err := m.lookupType(t); err != nil {
			return nil, errorf(ErrInvalid, "types: unknown type %q", t)
		}
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("make a webhook secret: %w", err)
	}
	rec := webhookRecord{ID: m.newID(), URL: req.URL, Types: orEmpty(types), Actions: orEmpty(slices.Clone(req.Actions)),
		Secret: "whsec_" + base64.StdEncoding.EncodeToString(key), State: WebhookActive,
		CreatedAt: m.now().UTC(), CreatedBy: PrincipalFrom(ctx).ID}
	set := m.webhooks
	set.opMu.Lock()
	defer set.opMu.Unlock()
	err := m.store.Update(ctx, func(tx storage.Tx) error {
		if err := bumpConfig(tx); err != nil { // every node runs it
			return err
		}
		// The webhook starts at the end of the log, in the transaction
		// that creates it: no entry committed before is delivered, none
		// after is missed.
		last, err := readUint(tx, bucketSys, keySeq)
		if err != nil {
			return err
		}
		if err := tx.Put(bucketConsumers, consumerKey(webhookConsumerName(rec.ID)), binary.BigEndian.AppendUint64(nil, last)); err != nil {
			return err
		}
		return putJSON(tx, bucketWebhooks, []byte(rec.ID), rec)
	})
	if err != nil {
		return nil, fmt.Errorf("store webhook: %w", err)
	}
	if err := m.startWebhook(ctx, rec); err != nil {
		return nil, err
	}
	w := m.webhookView(rec)
	w.Secret = rec.Secret
	return &w, nil
}

// Webhooks lists the webhooks (administrators only), oldest first.
func (m *Manager) Webhooks(ctx context.Context) ([]Webhook, error) {
	if m.closed.Load() {
		return nil, ErrClosed
	}
	if err := RequireAdmin(ctx); err != nil {
		return nil, err
	}
	recs, err := m.webhookRecords(ctx)
	if err != nil {
		return nil, fmt.Errorf("list webhooks: %w", err)
	}
	// Their positions are read after the transaction: no transaction is
	// opened inside another.
	out := make([]Webhook, 0, len(recs))
	for _, rec := range recs {
		out = append(out, m.webhookView(rec))
	}
	slices.SortStableFunc(out, func(a, b Webhook) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}

// Webhook returns one webhook (administrators only).
func (m *Manager) Webhook(ctx context.Context, id string) (*Webhook, error) {
	if m.closed.Load() {
		return nil, ErrClosed
	}
	if err := RequireAdmin(ctx); err != nil {
		return nil, err
	}
	rec, err := m.webhookRecord(ctx, id)
	if err != nil {
		return nil, err
	}
	w := m.webhookView(*rec)
	return &w, nil
}

func (m *Manager) webhookRecord(ctx context.Context, id string) (*webhookRecord, error) {
	var rec webhookRecord
	err := m.store.View(ctx, func(tx storage.Tx) error {
		return getJSON(tx, bucketWebhooks, []byte(id), &rec)
	})
	if isNotFound(err) {
		return nil, errorf(ErrNotFound, "no webhook %s", id)
	}
	if err != nil {
		return nil, fmt.Errorf("read webhook %s: %w", id, err)
	}
	return &rec, nil
}

// webhookView is rec as administrators see it, with its position.
func (m *Manager) webhookView(rec webhookRecord) Webhook {
	w := Webhook{ID: rec.ID, URL: rec.URL, Types: orEmpty(rec.Types), Actions: orEmpty(rec.Actions), State: rec.State,
		CreatedAt: rec.CreatedAt, CreatedBy: rec.CreatedBy, FailingSince: rec.FailingSince, DisabledAt: rec.DisabledAt}
	m.webhooks.mu.Lock()
	r := m.webhooks.runners[rec.ID]
	m.webhooks.mu.Unlock()
	// The saved position, and the consumer's own when it is further (it
	// is 0 until the consumer has read the saved one).
	if seq, err := loadPosition(m.bg, m.store, webhookConsumerName(rec.ID)); err == nil {
		w.Seq = seq
	}
	if r != nil {
		w.Seq = max(w.Seq, r.consumer.Status().Seq)
	}
	if last := m.LastSeq(); last > w.Seq {
		w.Lag = last - w.Seq
	}
	return w
}

// DeleteWebhook stops a webhook and removes it with its position and
// delivery log (administrators only). An attempt in flight is abandoned.
func (m *Manager) DeleteWebhook(ctx context.Context, id string) error {
	if m.closed.Load() {
		return ErrClosed
	}
	if err := RequireAdmin(ctx); err != nil {
		return err
	}
	set := m.webhooks
	set.opMu.Lock()
	defer set.opMu.Unlock()
	if _, err := m.webhookRecord(ctx, id); err != nil {
		return err
	}
	set.stop(id)
	err := m.store.Update(ctx, func(tx storage.Tx) error {
		if err := bumpConfig(tx); err != nil { // every node stops it
			return err
		}
		if err := tx.Delete(bucketWebhooks, []byte(id)); err != nil {
			return err
		}
		if err := tx.Delete(bucketConsumers, consumerKey(webhookConsumerName(id))); err != nil && !isNotFound(err) {
			return err
		}
		var keys [][]byte
		err := tx.Scan(bucketWebhookDeliveries, storage.PrefixRange(deliveryPrefix(id)), func(k, _ []byte) bool {
			keys = append(keys, bytes.Clone(k))
			return true
		})
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := tx.Delete(bucketWebhookDeliveries, k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete webhook %s: %w", id, err)
	}
	return nil
}

// ResumeWebhook re-enables a disabled webhook (administrators only): it
// continues from the first entry it did not deliver. Resuming an active
// webhook retries at once, without waiting out its backoff.
func (m *Manager) ResumeWebhook(ctx context.Context, id string) (*Webhook, error) {
	if m.closed.Load() {
		return nil, ErrClosed
	}
	if err := RequireAdmin(ctx); err != nil {
		return nil, err
	}
	set := m.webhooks
	set.opMu.Lock()
	defer set.opMu.Unlock()
	rec, err := m.webhookRecord(ctx, id)
	if err != nil {
		return nil, err
	}
	set.stop(id)
	rec.State, rec.DisabledAt, rec.FailingSince = WebhookActive, nil, nil
	if err := m.putWebhookRecord(ctx, *rec); err != nil {
		return nil, err
	}
	if err := m.startWebhook(ctx, *rec); err != nil {
		return nil, err
	}
	w := m.webhookView(*rec)
	return &w, nil
}

// stop stops webhook id's consumer, if it runs, and waits for it. The
// caller holds opMu.
func (set *webhookSet) stop(id string) {
	set.mu.Lock()
	r := set.runners[id]
	delete(set.runners, id)
	set.mu.Unlock()
	if r != nil {
		r.consumer.Stop()
		r.sender.Close()
	}
}

func (m *Manager) putWebhookRecord(ctx context.Context, rec webhookRecord) error {
	err := m.store.Update(ctx, func(tx storage.Tx) error {
		if _, err := tx.Get(bucketWebhooks, []byte(rec.ID)); err != nil {
			return err // deleted meanwhile: do not bring it back
		}
		if err := bumpConfig(tx); err != nil { // every node follows its state
			return err
		}
		return putJSON(tx, bucketWebhooks, []byte(rec.ID), rec)
	})
	if err != nil {
		return fmt.Errorf("save webhook %s: %w", rec.ID, err)
	}
	return nil
}

// WebhookDeliveries returns the newest attempts of a webhook's delivery
// log, newest first, at most limit of them (0: 100; at most
// WebhookDeliveryLogSize), for administrators.
func (m *Manager) WebhookDeliveries(ctx context.Context, id string, limit int) ([]WebhookDelivery, error) {
	if m.closed.Load() {
		return nil, ErrClosed
	}
	if err := RequireAdmin(ctx); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, WebhookDeliveryLogSize)
	out := []WebhookDelivery{}
	err := m.store.View(ctx, func(tx storage.Tx) error {
		if _, err := tx.Get(bucketWebhooks, []byte(id)); err != nil {
			return err
		}
		r := storage.PrefixRange(deliveryPrefix(id))
		r.Reverse = true
		var decodeErr error
		err := tx.Scan(bucketWebhookDeliveries, r, func(_, v []byte) bool {
			var d WebhookDelivery
			if decodeErr = json.Unmarshal(v, &d); decodeErr != nil {
				return false
			}
			out = append(out, d)
			return len(out) < limit
		})
		if err != nil {
			return err
		}
		return decodeErr
	})
	if isNotFound(err) {
		return nil, errorf(ErrNotFound, "no webhook %s", id)
	}
	if err != nil {
		return nil, fmt.Errorf("read the delivery log of webhook %s: %w", id, err)
	}
	return out, nil
}

// wantedTypes is the consumer's type selection: nil (all) when the
// webhook names none.
func (r *webhookRunner) wantedTypes() []string {
	if len(r.types) == 0 {
		return nil
	}
	return r.types
}

// errWebhookDisabled ends the handling of a webhook that was just
// disabled: its consumer is being stopped.
var errWebhookDisabled = errors.New("webhook disabled after failing for too long")

// handle delivers a page of entries, one request at a time, in order. It
// stops at the first that fails: the consumer retries from it after its
// backoff.
func (r *webhookRunner) handle(ctx context.Context, changes []Change) (int, error) {
	events, err := r.m.webhookEvents(ctx, changes, r.actions)
	if err != nil {
		return 0, err
	}
	var log []WebhookDelivery
	defer func() { r.logDeliveries(ctx, log) }()
	for i, ev := range events {
		if ev == nil {
			continue
		}
		body := cloudEvent(ev)
		start := r.m.now()
		status, sendErr := r.sender.Send(ctx, r.secret, webhookMessageID(r.id, ev.Seq), start, body)
		if ctx.Err() != nil {
			return i, ctx.Err() // stopped: the attempt does not count
		}
		r.attempt++
		d := WebhookDelivery{Attempt: r.attempt, Seq: ev.Seq, MessageID: webhookMessageID(r.id, ev.Seq), At: start.UTC(),
			DurationMS: float64(r.m.now().Sub(start).Microseconds()) / 1000, Status: status, OK: sendErr == nil}
		if sendErr != nil {
			d.Error = sendErr.Error()
		}
		log = append(log, d)
		if sendErr != nil {
			if r.failed(ctx, start) {
				return i, errWebhookDisabled
			}
			return i, fmt.Errorf("deliver entry %d to webhook %s: %w", ev.Seq, r.id, sendErr)
		}
		r.succeeded(ctx)
	}
	return len(changes), nil
}

// webhookMessageID is the webhook-id of an entry's deliveries: the same
// for every attempt, so a receiver can drop what it already handled.
func webhookMessageID(id string, seq uint64) string { return fmt.Sprintf("msg_%s_%d", id, seq) }

// failed records a failed attempt made at when. It disables the webhook
// and reports true once the failures have lasted DisableAfter.
func (r *webhookRunner) failed(ctx context.Context, at time.Time) bool {
	if r.failingSince == nil {
		since := at.UTC()
		r.failingSince = &since
		r.updateRecord(ctx, func(rec *webhookRecord) { rec.FailingSince = &since })
		return false
	}
	if at.Sub(*r.failingSince) < r.set.opts.DisableAfter {
		return false
	}
	set := r.set
	set.mu.Lock()
	defer set.mu.Unlock()
	if set.runners[r.id] != r {
		return true // deleted or resumed meanwhile
	}
	now := r.m.now().UTC()
	r.updateRecord(ctx, func(rec *webhookRecord) { rec.State, rec.DisabledAt = WebhookDisabled, &now })
	// The runner stays in runners, its consumer stopped, so that resuming
	// (set.stop) waits until it has stopped.
	r.m.log.WarnContext(ctx, "webhook disabled after failing without a break; POST /api/webhooks/{id}/resume continues it",
		slog.String("webhook", r.id), slog.Time("failing_since", *r.failingSince))
	// No attempt after this one: the consumer's context ends now, so it
	// does not call the handler again. Stop, which waits for this handler
	// to return, runs apart.
	r.consumer.cancel()
	go r.consumer.Stop()
	return true
}

// succeeded ends a run of failures.
func (r *webhookRunner) succeeded(ctx context.Context) {
	if r.failingSince == nil {
		return
	}
	r.failingSince = nil
	r.updateRecord(ctx, func(rec *webhookRecord) { rec.FailingSince = nil })
}

// updateRecord changes the stored webhook. A failure is logged, not
// returned: it costs at most a failure streak counted anew.
func (r *webhookRunner) updateRecord(ctx context.Context, f func(*webhookRecord)) {
	err := r.m.store.Update(ctx, func(tx storage.Tx) error {
		var rec webhookRecord
		if err := getJSON(tx, bucketWebhooks, []byte(r.id), &rec); err != nil {
			return err
		}
		f(&rec)
		if err := bumpConfig(tx); err != nil { // every node follows its state
			return err
		}
		return putJSON(tx, bucketWebhooks, []byte(r.id), rec)
	})
	if err != nil && !isNotFound(err) {
		r.m.log.ErrorContext(ctx, "webhook: save its state", slog.String("webhook", r.id), slog.Any("err", err))
	}
}

// logDeliveries appends attempts to the delivery log, in one transaction
// per page, and drops those past WebhookDeliveryLogSize.
func (r *webhookRunner) logDeliveries(ctx context.Context, log []WebhookDelivery) {
	if len(log) == 0 {
		return
	}
	ctx = context.WithoutCancel(ctx) // attempts made are recorded, even when stopping
	err := r.m.store.Update(ctx, func(tx storage.Tx) error {
		if _, err := tx.Get(bucketWebhooks, []byte(r.id)); err != nil {
			return err // deleted meanwhile
		}
		for _, d := range log {
			if err := putJSON(tx, bucketWebhookDeliveries, deliveryKey(r.id, d.Attempt), d); err != nil {
				return err
			}
		}
		last := log[len(log)-1].Attempt
		if last <= WebhookDeliveryLogSize {
			return nil
		}
		var old [][]byte
		end := deliveryKey(r.id, last-WebhookDeliveryLogSize+1)
		err := tx.Scan(bucketWebhookDeliveries, storage.Range{Start: deliveryPrefix(r.id), End: end}, func(k, _ []byte) bool {
			old = append(old, bytes.Clone(k))
			return true
		})
		if err != nil {
			return err
		}
		for _, k := range old {
			if err := tx.Delete(bucketWebhookDeliveries, k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && !isNotFound(err) {
		r.m.log.ErrorContext(ctx, "webhook: write the delivery log", slog.String("webhook", r.id), slog.Any("err", err))
	}
}

// webhookEvents builds the events of changes as an administrator sees
// them (the event feed's), in one transaction; nil for an entry whose
// action the webhook does not select.
func (m *Manager) webhookEvents(ctx context.Context, changes []Change, actions []string) ([]*FeedEvent, error) {
	out := make([]*FeedEvent, len(changes))
	types := m.typeSet()
	err := m.store.View(ctx, func(tx storage.Tx) error {
		r := reader{tx: tx}
		for i, ch := range changes {
			if len(actions) > 0 && !slices.Contains(actions, ch.Action) {
				continue
			}
			ev, err := m.feedEvent(r, System, types[ch.Type], ch, EventFilter{})
			if err != nil {
				return err
			}
			out[i] = ev
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the events of a webhook: %w", err)
	}
	return out, nil
}

// cloudEvent is ev as a CloudEvents 1.0 structured-mode JSON body:
// specversion, id (the seq), source, type, time, datacontenttype and
// data, the event as the feed encodes it. It is appended by hand, as the
// feed's events are: a webhook encodes one body per entry.
func cloudEvent(ev *FeedEvent) []byte {
	source := "/api/" + ev.Type
	if ev.ID != "" {
		source += "/" + ev.ID
	} else if ev.Action == ActionType {
		source = "/api/types/" + ev.Type
	}
	size := 400
	if ev.Resource != nil {
		size += len(ev.Resource.Data) + 400
	}
	b := make([]byte, 0, size)
	b = append(b, `{"specversion":"1.0","id":"`...)
	b = strconv.AppendUint(b, ev.Seq, 10)
	b = append(b, `","source":`...)
	b = appendString(b, source)
	b = append(b, `,"type":`...)
	b = appendString(b, "strata."+ev.Type+"."+ev.Action)
	b = append(b, `,"time":`...)
	b = appendString(b, ev.At)
	b = append(b, `,"datacontenttype":"application/json","data":`...)
	b = ev.AppendJSON(b)
	return append(b, '}')
}

// decodeWebhookSecret returns the key a whsec_ secret stands for.
func decodeWebhookSecret(s string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
	if err != nil || !strings.HasPrefix(s, "whsec_") {
		return nil, errors.New("its secret is not whsec_ and base64")
	}
	return key, nil
}

// orEmpty is s, or an empty list for nil, so that JSON says [] not null.
func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
