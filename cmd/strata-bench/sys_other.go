//go:build !linux

package main

import (
	"errors"
	"io/fs"
	"os/exec"
	"runtime"
	"time"
)

// errUnsupported is returned by measurements that need Linux's /proc.
var errUnsupported = errors.New("needs /proc (Linux)")

func detach(*exec.Cmd) {}

func allocatedBytes(info fs.FileInfo) int64 { return info.Size() }

func procMemory(int) (memory, error) { return memory{}, errUnsupported }

func cpuTime(int) (time.Duration, error) { return 0, errUnsupported }

func cpuModel() string { return runtime.GOARCH }

func kernel() string { return runtime.GOOS }
