package mlflow

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"time"
)

// maxLogLine bounds one logged line of child output; longer lines are cut.
const maxLogLine = 16 << 10

// output copies the child's stdout and stderr into slog line by line. The
// child writes into os.Pipe ends it inherits directly, so cmd.Wait does not
// wait for grandchildren that keep them open.
type output struct {
	readers []*os.File
	writers []*os.File
	wg      sync.WaitGroup
}

func startOutput(cmd *exec.Cmd, log *slog.Logger) (*output, error) {
	o := &output{}
	for _, stream := range []string{"stdout", "stderr"} {
		r, w, err := os.Pipe()
		if err != nil {
			o.abort()
			return nil, err
		}
		o.readers = append(o.readers, r)
		o.writers = append(o.writers, w)
		if stream == "stdout" {
			cmd.Stdout = w
		} else {
			cmd.Stderr = w
		}
		o.wg.Add(1)
		go func() {
			defer o.wg.Done()
			copyLines(r, log, stream)
		}()
	}
	return o, nil
}

// started closes the parent's copies of the write ends, so that the readers
// see EOF when the child's process group is gone.
func (o *output) started() {
	for _, w := range o.writers {
		w.Close()
	}
	o.writers = nil
}

// abort releases everything after a failed start.
func (o *output) abort() {
	o.started()
	for _, r := range o.readers {
		r.Close()
	}
	o.wg.Wait()
}

// wait lets the readers drain for up to d, then closes them.
func (o *output) wait(d time.Duration) {
	done := make(chan struct{})
	go func() { o.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		for _, r := range o.readers {
			r.Close()
		}
		<-done
	}
	for _, r := range o.readers {
		r.Close()
	}
}

func copyLines(r io.Reader, log *slog.Logger, stream string) {
	br := bufio.NewReaderSize(r, 4096)
	var line []byte
	for {
		chunk, isPrefix, err := br.ReadLine()
		if len(line) < maxLogLine {
			line = append(line, chunk[:min(len(chunk), maxLogLine-len(line))]...)
		}
		if err == nil && isPrefix {
			continue
		}
		if len(line) > 0 || err == nil {
			log.Info("mlflow output", "stream", stream, "line", string(line))
		}
		line = line[:0]
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, os.ErrClosed) {
				log.Debug("mlflow output closed", "stream", stream, "err", err)
			}
			return
		}
	}
}
