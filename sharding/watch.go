package sharding

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// watchDebounce groups the several events of one save (truncate + write,
// or an editor's rename dance) into one reload.
const watchDebounce = 100 * time.Millisecond

// OpenFile loads the configuration in path, opens the Cluster and watches
// the file: each change reloads the configuration (see WatchFile).
func OpenFile(ctx context.Context, path string, opts Options) (*Cluster, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadConfig, err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c, err := Open(ctx, cfg, opts)
	if err != nil {
		return nil, err
	}
	if err := c.watch(path, data); err != nil {
		return nil, errors.Join(err, c.Close())
	}
	return c, nil
}

// WatchFile reloads the configuration from path whenever the file changes
// (written in place, replaced by rename, or swapped through a symlink as
// Kubernetes does with ConfigMaps). The file is loaded now with Reload
// (its error is returned and nothing is watched). A later change
// that fails to parse or to load leaves the running configuration in force;
// the outcome of each attempt goes to Options.OnReload, LastReload and
// das_sharding_reloads_total. The watcher stops with Close. Only one file
// can be watched.
func (c *Cluster) WatchFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadConfig, err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := c.Reload(context.Background(), cfg); err != nil {
		return err
	}
	return c.watch(path, data)
}

func (c *Cluster) watch(path string, loaded []byte) error {
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	if c.mu.watching {
		c.mu.Unlock()
		return fmt.Errorf("sharding: already watching a config file")
	}
	c.mu.watching = true
	c.mu.Unlock()
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("sharding: watch %s: %w", path, err)
	}
	// The directory, not the file: a rename over the file or a symlink
	// swap would end a watch on the old inode.
	if err := w.Add(filepath.Dir(path)); err != nil {
		_ = w.Close()
		return fmt.Errorf("sharding: watch %s: %w", path, err)
	}
	c.wg.Add(1)
	go c.watchLoop(w, path, loaded)
	return nil
}

func (c *Cluster) watchLoop(w *fsnotify.Watcher, path string, last []byte) {
	defer c.wg.Done()
	defer w.Close()
	var timer *time.Timer
	var fire <-chan time.Time
	for {
		select {
		case <-c.bg.Done():
			if timer != nil {
				timer.Stop()
			}
			return
		case _, ok := <-w.Events:
			if !ok {
				return
			}
			// Any event in the directory may be ours (symlinks, editors'
			// temp files); the content comparison below filters.
			if timer == nil {
				timer = time.NewTimer(watchDebounce)
			} else {
				timer.Reset(watchDebounce)
			}
			fire = timer.C
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			c.reported(0, fmt.Errorf("sharding: watching %s: %w", path, err))
		case <-fire:
			fire = nil
			data, err := os.ReadFile(path)
			if err != nil {
				if errors.Is(err, os.ErrNotExist) {
					continue // mid-replace; the create event follows
				}
				c.reported(0, fmt.Errorf("%w: %v", ErrBadConfig, err))
				continue
			}
			if bytes.Equal(data, last) {
				continue
			}
			last = data
			cfg, err := ParseConfig(data)
			if err != nil {
				err = fmt.Errorf("%s: %w", path, err)
				c.metrics.reloads.WithLabelValues("error").Inc()
				c.lastReload.Store(&reloadResult{gen: c.Generation(), err: err, at: c.opts.Now()})
				c.reported(0, err)
				continue
			}
			err = c.Reload(c.bg, cfg)
			c.reported(c.Generation(), err)
		}
	}
}

func (c *Cluster) reported(gen uint64, err error) {
	if c.opts.OnReload != nil {
		c.opts.OnReload(gen, err)
	}
}
