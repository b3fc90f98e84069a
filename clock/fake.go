package clock

import (
	"sort"
	"sync"
	"time"
)

// Fake is a Clock whose time moves only when the test moves it (Advance,
// Set). Timers, tickers and AfterFunc functions due by the new time fire
// in the order of their deadlines, each seeing Now at its own deadline.
// It is safe for concurrent use.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	seq     uint64
	waiters []*fakeWaiter
	// added is closed and replaced whenever a waiter is added.
	added chan struct{}
	// funcs counts the AfterFunc functions running.
	funcs sync.WaitGroup
}

// NewFake returns a fake clock at start.
func NewFake(start time.Time) *Fake {
	return &Fake{now: start, added: make(chan struct{})}
}

type fakeWaiter struct {
	f      *Fake
	at     time.Time
	seq    uint64        // ties broken by creation order
	period time.Duration // > 0 for a ticker
	c      chan time.Time
	fn     func()
	active bool
}

// Now is the fake's current time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Advance moves the time forward by d, firing everything due on the way.
func (f *Fake) Advance(d time.Duration) { f.Set(f.Now().Add(d)) }

// Set moves the time to t (never backwards), firing everything due by t.
func (f *Fake) Set(t time.Time) {
	for {
		f.mu.Lock()
		if len(f.waiters) == 0 || f.waiters[0].at.After(t) {
			if t.After(f.now) {
				f.now = t
			}
			f.mu.Unlock()
			return
		}
		w := f.waiters[0]
		if w.at.After(f.now) {
			f.now = w.at
		}
		now := f.now
		if w.period > 0 {
			w.at = w.at.Add(w.period)
			f.sortLocked()
		} else {
			w.active = false
			f.removeLocked(w)
		}
		f.mu.Unlock()
		if w.fn != nil {
			f.funcs.Go(w.fn)
			continue
		}
		select {
		case w.c <- now:
		default: // a reader that is behind misses the tick, as with time.Ticker
		}
	}
}

// Wait waits for the AfterFunc functions fired so far to return: a test
// that steps the clock then sees what they did.
func (f *Fake) Wait() { f.funcs.Wait() }

// Waiters is how many timers, tickers and AfterFunc functions are
// pending: a test waits for a goroutine to have armed its timer before it
// advances past it.
func (f *Fake) Waiters() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.waiters)
}

// WaiterAdded returns a channel closed once the next timer, ticker or
// AfterFunc function is added.
func (f *Fake) WaiterAdded() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.added
}

// AfterFunc implements Clock.
func (f *Fake) AfterFunc(d time.Duration, fn func()) Timer {
	return f.add(d, 0, nil, fn)
}

// NewTimer implements Clock.
func (f *Fake) NewTimer(d time.Duration) Timer {
	return f.add(d, 0, make(chan time.Time, 1), nil)
}

// NewTicker implements Clock. It panics on d <= 0, as time.NewTicker does.
func (f *Fake) NewTicker(d time.Duration) Ticker {
	if d <= 0 {
		panic("clock: non-positive interval for NewTicker")
	}
	return fakeTicker{f.add(d, d, make(chan time.Time, 1), nil)}
}

func (f *Fake) add(d, period time.Duration, c chan time.Time, fn func()) *fakeWaiter {
	f.mu.Lock()
	w := &fakeWaiter{f: f, period: period, c: c, fn: fn}
	f.armLocked(w, d)
	f.mu.Unlock()
	if d <= 0 && period == 0 {
		f.Set(f.Now()) // due now
	}
	return w
}

func (f *Fake) armLocked(w *fakeWaiter, d time.Duration) {
	f.seq++
	w.at, w.seq, w.active = f.now.Add(d), f.seq, true
	f.waiters = append(f.waiters, w)
	f.sortLocked()
	close(f.added)
	f.added = make(chan struct{})
}

func (f *Fake) sortLocked() {
	sort.SliceStable(f.waiters, func(i, j int) bool {
		a, b := f.waiters[i], f.waiters[j]
		if !a.at.Equal(b.at) {
			return a.at.Before(b.at)
		}
		return a.seq < b.seq
	})
}

func (f *Fake) removeLocked(w *fakeWaiter) {
	for i, x := range f.waiters {
		if x == w {
			f.waiters = append(f.waiters[:i], f.waiters[i+1:]...)
			return
		}
	}
}

func (w *fakeWaiter) C() <-chan time.Time { return w.c }

func (w *fakeWaiter) Stop() bool {
	w.f.mu.Lock()
	defer w.f.mu.Unlock()
	was := w.active
	w.active = false
	w.f.removeLocked(w)
	return was
}

func (w *fakeWaiter) Reset(d time.Duration) bool {
	w.f.mu.Lock()
	was := w.active
	w.f.removeLocked(w)
	w.f.armLocked(w, d)
	w.f.mu.Unlock()
	if d <= 0 && w.period == 0 {
		w.f.Set(w.f.Now())
	}
	return was
}

type fakeTicker struct{ w *fakeWaiter }

func (t fakeTicker) C() <-chan time.Time { return t.w.c }
func (t fakeTicker) Stop()               { t.w.Stop() }
func (t fakeTicker) Reset(d time.Duration) {
	if d <= 0 {
		panic("clock: non-positive interval for Ticker.Reset")
	}
	t.w.f.mu.Lock()
	t.w.period = d
	t.w.f.mu.Unlock()
	t.w.Reset(d)
}
