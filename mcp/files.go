package mcp

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/earshot-dev/earshot/pipeline"
)

// resolveRoots makes the allowed directories absolute, with symlinks
// resolved, so that a file's real path can be compared with them.
func resolveRoots(dirs []string, home string) ([]string, error) {
	var roots []string
	for _, d := range dirs {
		abs, err := filepath.Abs(expandHome(d, home))
		if err != nil {
			return nil, err
		}
		real, err := filepath.EvalSymlinks(abs)
		if err != nil {
			return nil, fmt.Errorf("mcp: allowed directory %s: %w", d, err)
		}
		fi, err := os.Stat(real)
		if err != nil {
			return nil, fmt.Errorf("mcp: allowed directory %s: %w", d, err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("mcp: allowed directory %s is not a directory", d)
		}
		roots = append(roots, real)
	}
	return roots, nil
}

// within reports whether path is root or inside it.
func within(root, path string) bool {
	rel, err := filepath.Rel(root, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

func (s *Server) inRoots(path string) bool {
	for _, r := range s.roots {
		if within(r, path) {
			return true
		}
	}
	return false
}

// readFile reads an audio file named by a client, refusing anything outside
// the allowed directories (after resolving symlinks, and again for the
// file actually opened), anything but a regular file, and files over the
// size limit, before reading a byte.
func (s *Server) readFile(path string) ([]byte, error) {
	if len(s.roots) == 0 {
		return nil, badArg("path", "This server does not read files (no --allow-dir): send the audio's bytes as audio_base64 instead.")
	}
	if strings.HasPrefix(path, "~") {
		if s.cfg.Home == "" {
			return nil, badArg("path", "%s: there is no home directory to expand ~ to; give an absolute path.", path)
		}
		path = expandHome(path, s.cfg.Home)
	}
	if !filepath.IsAbs(path) {
		return nil, badArg("path", "%s is a relative path: give an absolute path (inside %s).", path, strings.Join(s.roots, ", "))
	}
	real, err := filepath.EvalSymlinks(filepath.Clean(path))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, badArg("path", "%s does not exist.", path)
	}
	if err != nil {
		return nil, badArg("path", "%s cannot be read: %v.", path, unwrapPath(err))
	}
	if !s.inRoots(real) {
		return nil, badArg("path", "%s is outside the directories this server may read (%s).", path, strings.Join(s.roots, ", "))
	}
	f, err := openNoFollow(real)
	if err != nil {
		return nil, badArg("path", "%s cannot be read: %v.", path, unwrapPath(err))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, badArg("path", "%s cannot be read: %v.", path, unwrapPath(err))
	}
	switch {
	case fi.IsDir():
		return nil, badArg("path", "%s is a directory, not an audio file.", path)
	case !fi.Mode().IsRegular():
		return nil, badArg("path", "%s is not a regular file (a device, FIFO or socket), so it is not read.", path)
	case fi.Size() > s.cfg.MaxFileBytes:
		return nil, &pipeline.Error{Kind: pipeline.TooLarge, Param: "path", Code: "file_too_large",
			Message: fmt.Sprintf("%s is %d MiB; this server accepts audio up to %d MiB (earshot mcp --max-file raises it).", path, fi.Size()>>20, s.cfg.MaxFileBytes>>20)}
	}
	// The file opened must be the one checked, even if a directory on the
	// way was swapped for a symlink in between.
	if opened, ok := openedPath(f); ok && !s.inRoots(opened) {
		return nil, badArg("path", "%s is outside the directories this server may read.", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, s.cfg.MaxFileBytes+1))
	if err != nil {
		return nil, badArg("path", "%s cannot be read: %v.", path, unwrapPath(err))
	}
	if int64(len(data)) > s.cfg.MaxFileBytes {
		return nil, badArg("path", "%s grew past %d MB while being read.", path, s.cfg.MaxFileBytes>>20)
	}
	return data, nil
}

// unwrapPath drops the path from an *fs.PathError: the message names it.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// expandHome replaces a leading "~" (alone or before a slash) with home.
func expandHome(path, home string) string {
	if home != "" && (path == "~" || strings.HasPrefix(path, "~/")) {
		return filepath.Join(home, path[1:])
	}
	return path
}
