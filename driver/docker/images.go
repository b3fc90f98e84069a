package docker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/authconfig"
	"github.com/moby/moby/client"

	"github.com/droverhq/drover/clock"
)

// ensureImage returns the id of the task's image: the local one, unless
// it is missing or the task forces a pull.
func (d *Driver) ensureImage(ctx context.Context, tc *taskConfig) (string, error) {
	if !tc.forcePull {
		img, err := d.engine.ImageInspect(ctx, tc.image)
		if err == nil {
			return img.ID, nil
		}
		if !cerrdefs.IsNotFound(err) {
			return "", fmt.Errorf("image %q: %w", tc.image, err)
		}
	}
	if err := d.pull(ctx, tc); err != nil {
		return "", fmt.Errorf("image %q is not on this host and could not be pulled: %w", tc.image, err)
	}
	img, err := d.engine.ImageInspect(ctx, tc.image)
	if err != nil {
		return "", fmt.Errorf("image %q after pulling it: %w", tc.image, err)
	}
	return img.ID, nil
}

// pull pulls the task's image within its image_pull_timeout, giving up
// when the engine reports no progress for the plugin's
// pull_activity_timeout.
func (d *Driver) pull(ctx context.Context, tc *taskConfig) error {
	ctx, cancel := context.WithTimeout(ctx, tc.imagePullTimeout)
	defer cancel()
	activity := d.cfg.pullActivityTimeout()
	idle := time.AfterFunc(activity, cancel)
	defer idle.Stop()
	opts := client.ImagePullOptions{}
	if tc.auth != nil {
		enc, err := authconfig.Encode(*tc.auth)
		if err != nil {
			return fmt.Errorf("auth: %w", err)
		}
		opts.RegistryAuth = enc
	}
	d.logger.Info("pulling image", "image", tc.image)
	resp, err := d.engine.ImagePull(ctx, tc.image, opts)
	if err != nil {
		return err
	}
	for msg, err := range resp.JSONMessages(ctx) {
		if err != nil {
			if !idle.Stop() {
				return fmt.Errorf("no progress for %s (pull_activity_timeout)", activity)
			}
			return err
		}
		if msg.Error != nil {
			return errors.New(msg.Error.Message)
		}
		idle.Reset(activity)
	}
	return ctx.Err()
}

// imageRefs counts the tasks that use each image, and removes an image
// once none has used it for the plugin's image_delay.
type imageRefs struct {
	d      *Driver
	mu     sync.Mutex
	users  map[string]map[string]bool // image id -> task ids
	timers map[string]clock.Timer
	closed bool
	wg     sync.WaitGroup
}

func newImageRefs(d *Driver) *imageRefs {
	return &imageRefs{d: d, users: map[string]map[string]bool{}, timers: map[string]clock.Timer{}}
}

// use records that task uses the image, cancelling a pending removal.
func (r *imageRefs) use(image, task string) {
	if image == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cancelRemoval(image)
	if r.users[image] == nil {
		r.users[image] = map[string]bool{}
	}
	r.users[image][task] = true
}

// release records that task no longer uses the image; the last user's
// release schedules its removal.
func (r *imageRefs) release(image, task string) {
	if image == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.users[image], task)
	if len(r.users[image]) > 0 {
		return
	}
	delete(r.users, image)
	if r.d.cfg.GC.KeepImages || r.closed {
		return
	}
	r.cancelRemoval(image)
	r.wg.Add(1)
	r.timers[image] = r.d.cfg.Clock.AfterFunc(r.d.cfg.imageDelay(), func() {
		defer r.wg.Done()
		r.remove(image)
	})
}

// cancelRemoval cancels a pending removal of the image; r.mu is held.
func (r *imageRefs) cancelRemoval(image string) {
	if t, ok := r.timers[image]; ok {
		if t.Stop() {
			r.wg.Done() // it will not run
		}
		delete(r.timers, image)
	}
}

// remove removes the image if still no task uses it. An image some
// container still uses (one of another program) stays.
func (r *imageRefs) remove(image string) {
	r.mu.Lock()
	if _, ok := r.timers[image]; !ok || len(r.users[image]) > 0 || r.closed {
		r.mu.Unlock()
		return
	}
	delete(r.timers, image)
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), engineTimeout)
	defer cancel()
	_, err := r.d.engine.ImageRemove(ctx, image, client.ImageRemoveOptions{PruneChildren: true})
	switch {
	case err == nil:
		r.d.logger.Info("removed an image no task uses", "image", image)
	case cerrdefs.IsNotFound(err):
	default:
		r.d.logger.Info("image no task uses was not removed", "image", image, "error", err)
	}
}

// close cancels pending removals and waits for running ones.
func (r *imageRefs) close() {
	r.mu.Lock()
	r.closed = true
	for image := range r.timers {
		r.cancelRemoval(image)
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// count counts the tasks that use an image, for tests.
func (r *imageRefs) count(image string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.users[image])
}

// pending says whether the image's removal is scheduled, for tests.
func (r *imageRefs) pending(image string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.timers[image]
	return ok
}
