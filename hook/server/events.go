package server

import (
	"context"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"

	"github.com/dittofs-hook/dittofs-hook/hook"
)

// ReportingController names the hook in the Events it records (a qualified
// name, as events.k8s.io/v1 requires).
const ReportingController = hook.Group + "/dittofs-hook"

// Results of recording an Event, the values of the result label of
// dittofs_hook_events_total.
const (
	EventCreated   = "created"
	EventDuplicate = "duplicate"
	EventDropped   = "dropped_queue_full"
	EventFailed    = "failed"
)

var eventResults = []string{EventCreated, EventDuplicate, EventDropped, EventFailed}

// EventSink takes a sync's Events once its answer is written. Record must
// not block.
type EventSink interface {
	Record([]hook.Event)
}

// Recorder creates Events in the API server, after the answers that decide
// them and apart from them: a bounded queue (an Event that finds it full is
// dropped) drained by a few workers, each create bounded by a timeout. A
// slow or refusing API server costs Events, counted, never a sync's time
// or answer. An Event whose name exists already is a transition another
// call (a retry, another replica) recorded: dropped, and counted as a
// duplicate.
type Recorder struct {
	opts  RecorderOptions
	queue chan hook.Event
	// mu guards closed against a Record racing Close.
	mu     sync.RWMutex
	closed bool
	ctx    context.Context
	cancel context.CancelFunc
	done   sync.WaitGroup
}

// RecorderOptions configure a Recorder. Zero values take defaults.
type RecorderOptions struct {
	// Client creates the Events (events.k8s.io/v1).
	Client *EventClient
	// QueueSize bounds the Events waiting to be sent (default 1024).
	QueueSize int
	// Workers send Events concurrently (default 4).
	Workers int
	// Timeout bounds one create (default 5 s).
	Timeout time.Duration
	// Instance names this replica (reportingInstance; its host name).
	Instance string
	Metrics  *Metrics
	Logger   *slog.Logger
	// Now is the clock of eventTime (default time.Now).
	Now func() time.Time
}

// NewRecorder starts a Recorder's workers; Close stops them.
func NewRecorder(o RecorderOptions) *Recorder {
	if o.QueueSize <= 0 {
		o.QueueSize = 1024
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if len(o.Instance) > 128 {
		o.Instance = o.Instance[:128]
	}
	if o.Instance == "" {
		o.Instance = "dittofs-hook"
	}
	r := &Recorder{opts: o, queue: make(chan hook.Event, o.QueueSize)}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	for range o.Workers {
		r.done.Add(1)
		go r.work()
	}
	return r
}

// Record queues Events without waiting: one that finds the queue full (or
// the Recorder closed) is dropped and counted.
func (r *Recorder) Record(events []hook.Event) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, e := range events {
		if r.closed {
			r.opts.Metrics.event(e.Reason, EventDropped)
			continue
		}
		select {
		case r.queue <- e:
		default:
			r.opts.Metrics.event(e.Reason, EventDropped)
			r.opts.Logger.Warn("event dropped: queue full", "reason", e.Reason, "namespace", e.Regarding.Namespace, "name", e.Regarding.Name)
		}
	}
}

// Close stops taking Events and sends those queued until ctx ends; any
// left then fail (counted).
func (r *Recorder) Close(ctx context.Context) {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.queue)
	}
	r.mu.Unlock()
	stop := context.AfterFunc(ctx, r.cancel)
	defer stop()
	r.done.Wait()
	r.cancel()
}

func (r *Recorder) work() {
	defer r.done.Done()
	for e := range r.queue {
		r.send(e)
	}
}

func (r *Recorder) send(e hook.Event) {
	ctx, cancel := context.WithTimeout(r.ctx, r.opts.Timeout)
	defer cancel()
	err := r.opts.Client.Create(ctx, r.object(e))
	log := r.opts.Logger.With("namespace", e.Regarding.Namespace, "name", e.Regarding.Name, "reason", e.Reason, "event", e.Name)
	switch {
	case err == nil:
		r.opts.Metrics.event(e.Reason, EventCreated)
		log.Debug("event recorded", "type", e.Type, "note", e.Note)
	case apierrors.IsAlreadyExists(err):
		// The same transition, recorded by a retry or another replica.
		r.opts.Metrics.event(e.Reason, EventDuplicate)
		log.Debug("event recorded already")
	default:
		r.opts.Metrics.event(e.Reason, EventFailed)
		log.Warn("event not recorded", "err", err)
	}
}

// object is the events.k8s.io/v1 Event: the core's Event, with the time
// and who reports it.
func (r *Recorder) object(e hook.Event) *eventsv1.Event {
	ev := &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: e.Name, Namespace: e.Regarding.Namespace},
		EventTime:           metav1.NewMicroTime(r.opts.Now()),
		ReportingController: ReportingController,
		ReportingInstance:   r.opts.Instance,
		Action:              e.Action,
		Reason:              e.Reason,
		Type:                e.Type,
		Note:                e.Note,
		Regarding:           objectReference(e.Regarding),
	}
	if e.Related != nil {
		ref := objectReference(*e.Related)
		ev.Related = &ref
	}
	return ev
}

func objectReference(o hook.ObjectRef) corev1.ObjectReference {
	return corev1.ObjectReference{APIVersion: o.APIVersion, Kind: o.Kind, Namespace: o.Namespace, Name: o.Name, UID: o.UID}
}

// EventClient creates events.k8s.io/v1 Events. It is client-go's REST
// client (authentication, TLS, rate limits, retries, API errors decoded
// into apierrors) over a scheme of that one group: the typed clientset's
// package would register every API group and their apply configurations,
// which doubles the hook's binary (28 to 53 MB) and adds 13 MB of memory
// at rest, for one call.
type EventClient struct {
	rest rest.Interface
}

// NewEventClient makes an EventClient from a client-go configuration.
func NewEventClient(c *rest.Config) (*EventClient, error) {
	scheme := runtime.NewScheme()
	if err := eventsv1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	// metav1.Status and the other unversioned kinds, so that an error is
	// decoded into its reason (AlreadyExists, Forbidden, …).
	metav1.AddToGroupVersion(scheme, schema.GroupVersion{Version: "v1"})
	cc := rest.CopyConfig(c)
	cc.GroupVersion = &eventsv1.SchemeGroupVersion
	cc.APIPath = "/apis"
	cc.ContentType = runtime.ContentTypeJSON
	cc.NegotiatedSerializer = serializer.NewCodecFactory(scheme).WithoutConversion()
	rc, err := rest.RESTClientFor(cc)
	if err != nil {
		return nil, err
	}
	return &EventClient{rest: rc}, nil
}

// Create creates an Event in its namespace.
func (c *EventClient) Create(ctx context.Context, ev *eventsv1.Event) error {
	return c.rest.Post().Namespace(ev.Namespace).Resource("events").Body(ev).Do(ctx).Error()
}
