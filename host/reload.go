package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Watch hot-reloads dir until ctx ends: creating, replacing or deleting a
// NAME.wasm or its NAME.yaml is debounced (Config.ReloadDebounce), then the
// block is compiled, validated and warmed before it atomically replaces
// the old version (steps in flight finish on the old one); a block that
// fails to load keeps the previous version serving and shows the error in
// Blocks; a deleted block is unloaded once its steps finish. dir should be
// the directory given to LoadDir.
func (h *Host) Watch(ctx context.Context, dir string) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watching plugins: %w", err)
	}
	if err := w.Add(dir); err != nil {
		w.Close()
		return fmt.Errorf("watching plugins: %w", err)
	}
	h.mu.Lock()
	if h.pluginsDir == "" {
		h.pluginsDir = dir
	}
	h.mu.Unlock()
	go h.watchLoop(ctx, w, dir)
	return nil
}

func (h *Host) watchLoop(ctx context.Context, w *fsnotify.Watcher, dir string) {
	defer w.Close()
	var (
		mu      sync.Mutex
		pending = map[string]*time.Timer{}
	)
	fire := func(name string) {
		mu.Lock()
		delete(pending, name)
		mu.Unlock()
		h.reloadOne(ctx, dir, name)
	}
	for {
		select {
		case <-ctx.Done():
			mu.Lock()
			for _, t := range pending {
				t.Stop()
			}
			mu.Unlock()
			return
		case <-h.stop:
			return
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			h.log.Error("plugins watcher", "error", err.Error())
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			base := filepath.Base(ev.Name)
			name, isWasm := strings.CutSuffix(base, ".wasm")
			if !isWasm {
				var isYAML bool
				if name, isYAML = strings.CutSuffix(base, ".yaml"); !isYAML {
					continue
				}
			}
			if strings.HasPrefix(name, ".") {
				continue // editors' and copiers' temp files
			}
			mu.Lock()
			if t, ok := pending[name]; ok {
				t.Reset(h.cfg.ReloadDebounce)
			} else {
				pending[name] = time.AfterFunc(h.cfg.ReloadDebounce, func() { fire(name) })
			}
			mu.Unlock()
		}
	}
}

// reloadOne loads, replaces or removes block name after a change in dir.
func (h *Host) reloadOne(ctx context.Context, dir, name string) error {
	path := filepath.Join(dir, name+".wasm")
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		if h.Unload(name) {
			h.metrics.reloads.WithLabelValues(name, "removed").Inc()
		}
		return nil
	}
	if h.unchanged(name, path) {
		return nil
	}
	if _, err := h.LoadFile(ctx, path); err != nil {
		h.metrics.reloads.WithLabelValues(name, "failed").Inc()
		h.log.Error("block reload failed; the previous version keeps serving", "block", name, "error", err.Error())
		return err
	}
	h.metrics.reloads.WithLabelValues(name, "ok").Inc()
	return nil
}

// fileDigest returns the sha256 of a file's content, or "" if unreadable.
func fileDigest(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
