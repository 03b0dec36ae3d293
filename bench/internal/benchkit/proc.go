// Package benchkit holds what the benchmark commands under bench/ share:
// their common flags and main, building and starting `dvs2s serve` and
// the other processes they measure, reading CPU time, finding free ports,
// an HTTPS client, driving load with wrk or with Go goroutines, and
// printing Markdown tables of rounds and medians.
package benchkit

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Proc is a process a benchmark started and measures.
type Proc struct {
	Cmd    *exec.Cmd
	Stderr *Buffer // what the process wrote to its standard error
	done   chan struct{}
}

// Start starts the program name with args, its standard error captured
// in Stderr.
func Start(name string, args ...string) (*Proc, error) {
	p := &Proc{Stderr: &Buffer{}, done: make(chan struct{})}
	p.Cmd = exec.Command(name, args...)
	p.Cmd.Stderr = p.Stderr
	if err := p.Cmd.Start(); err != nil {
		return nil, err
	}
	go func() { p.Cmd.Wait(); close(p.done) }()
	return p, nil
}

// Pid returns the process id.
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Done returns a channel closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop interrupts the process (graceful shutdown) and kills it if it has
// not exited within 15 seconds. A nil p is a no-op.
func (p *Proc) Stop() {
	if p == nil || p.Exited() {
		return
	}
	p.Cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		p.Cmd.Process.Kill()
		<-p.done
	}
}

// CPU returns the CPU seconds (user + system) the process has used so
// far, from /proc (Linux), or -1.
func (p *Proc) CPU() float64 { return ProcCPU(p.Pid()) }

// ProcCPU returns utime + stime of the process pid in seconds, from
// /proc/PID/stat, or -1.
func ProcCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// The command name (field 2) may hold spaces; fields after it are fixed.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return -1
	}
	ut, err1 := strconv.ParseFloat(f[11], 64) // field 14
	st, err2 := strconv.ParseFloat(f[12], 64) // field 15
	if err1 != nil || err2 != nil {
		return -1
	}
	return (ut + st) / clockTicks
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

// ChildCPU returns the CPU seconds (user + system) of an exited child
// process, or -1 if ps is nil.
func ChildCPU(ps *os.ProcessState) float64 {
	if ps == nil {
		return -1
	}
	return (ps.UserTime() + ps.SystemTime()).Seconds()
}

// CPUDelta returns the CPU seconds used between the readings c0 and c1,
// or -1 if either is unknown (negative).
func CPUDelta(c0, c1 float64) float64 {
	if c0 < 0 || c1 < 0 {
		return -1
	}
	return c1 - c0
}

// Buffer is a bytes.Buffer safe for concurrent use that keeps about the
// first MiB written to it and discards the rest.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p, or discards it once the buffer holds more than 1 MiB.
func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 1<<20 {
		return len(p), nil
	}
	return l.b.Write(p)
}

// String returns what the buffer holds.
func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
