//go:build !unix

package mcp

import "os"

func openNoFollow(path string) (*os.File, error) { return os.Open(path) }

func openedPath(*os.File) (string, bool) { return "", false }
