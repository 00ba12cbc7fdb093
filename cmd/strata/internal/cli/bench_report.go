package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

func benchReportCommand() *command {
	return &command{
		name: "report", summary: "print bench results (--json) as Markdown tables",
		synopsis: "strata bench report [--input FILE]...",
		help: `Read the JSON objects that bench produce --json and bench consume --json
print, one a line, from each --input file in turn (default: stdin), and
print them as two Markdown tables, producers then consumers, one row a
run in input order. Latencies are in milliseconds; MB is 2^20 bytes.`,
		setup: func(fs *flag.FlagSet, s *session) func(context.Context) error {
			var inputs repeated
			fs.Var(&inputs, "input", "`FILE` a file of results; repeat the flag for several (default: stdin)")
			return func(context.Context) error {
				var results []any
				if len(inputs) == 0 {
					if s.env.Stdin == nil {
						return s.usage("no results: give --input or results on stdin")
					}
					rs, err := readBenchResults(s.env.Stdin, "stdin")
					if err != nil {
						return err
					}
					results = rs
				}
				for _, path := range inputs {
					b, err := os.ReadFile(path)
					if err != nil {
						return fmt.Errorf("read results: %w", err)
					}
					rs, err := readBenchResults(bytes.NewReader(b), path)
					if err != nil {
						return err
					}
					results = append(results, rs...)
				}
				if len(results) == 0 {
					return errors.New("no results to report")
				}
				writeBenchReport(s.stdout(), results)
				return nil
			}
		},
	}
}

// readBenchResults decodes one result a line (blank lines skipped): a
// produceResult or a consumeResult, as its kind says.
func readBenchResults(r io.Reader, name string) ([]any, error) {
	var out []any
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var head struct {
			Kind string `json:"kind"`
		}
		if err := json.Unmarshal(line, &head); err != nil {
			return nil, fmt.Errorf("%s:%d: not a bench result: %w", name, n, err)
		}
		var v any
		switch head.Kind {
		case "produce":
			v = &produceResult{}
		case "consume":
			v = &consumeResult{}
		default:
			return nil, fmt.Errorf("%s:%d: not a bench result: kind %q, want produce or consume", name, n, head.Kind)
		}
		if err := json.Unmarshal(line, v); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, n, err)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return out, nil
}

// writeBenchReport prints the producer runs, then the consumer runs, as
// Markdown tables.
func writeBenchReport(w io.Writer, results []any) {
	var prod, cons [][]string
	for _, r := range results {
		switch r := r.(type) {
		case *produceResult:
			rate := "unlimited"
			if r.TargetRate > 0 {
				rate = strconv.FormatFloat(r.TargetRate, 'f', -1, 64)
			}
			records := strconv.FormatInt(r.Records, 10)
			if r.Failed > 0 {
				records += fmt.Sprintf(" (%d failed)", r.Failed)
			}
			l := r.Latency
			prod = append(prod, []string{r.Topic, records, strconv.Itoa(r.RecordSize), strconv.Itoa(r.Partitions),
				strconv.Itoa(r.ReplicationFactor), r.Acks, r.Compression, strconv.Itoa(r.Producers), rate,
				fmt.Sprintf("%.0f", r.RecordsPerSec), fmt.Sprintf("%.2f", r.MBPerSec), fmt.Sprintf("%.2f", l.Avg),
				fmt.Sprintf("%.2f", l.P50), fmt.Sprintf("%.2f", l.P95), fmt.Sprintf("%.2f", l.P99), fmt.Sprintf("%.2f", l.P999),
				fmt.Sprintf("%.2f", l.Max)})
		case *consumeResult:
			records := strconv.FormatInt(r.Records, 10)
			if r.Records < r.Wanted {
				records += fmt.Sprintf(" (of %d)", r.Wanted)
			}
			cons = append(cons, []string{r.Topic, records, fmt.Sprintf("%.2f", r.MB), strconv.Itoa(r.Partitions),
				strconv.Itoa(r.Consumers), fmt.Sprintf("%.0f", r.RecordsPerSec), fmt.Sprintf("%.2f", r.MBPerSec),
				fmt.Sprintf("%.0f", r.FetchTimeMs)})
		}
	}
	if len(prod) > 0 {
		writeMarkdownTable(w, []string{"Topic", "Records", "Record bytes", "Partitions", "RF", "Acks", "Compression", "Producers",
			"Target records/s", "Records/s", "MB/s", "Avg ms", "p50 ms", "p95 ms", "p99 ms", "p99.9 ms", "Max ms"}, "lrrrrllrrrrrrrrrr", prod)
	}
	if len(cons) > 0 {
		if len(prod) > 0 {
			fmt.Fprintln(w)
		}
		writeMarkdownTable(w, []string{"Topic", "Records", "MB", "Partitions", "Consumers", "Records/s", "MB/s", "Fetch ms"}, "lrrrrrrr", cons)
	}
}

// writeMarkdownTable prints a table; align has an 'l' (left) or 'r'
// (right, for numbers) for each column.
func writeMarkdownTable(w io.Writer, header []string, align string, rows [][]string) {
	row := func(cells []string) {
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
	row(header)
	sep := make([]string, len(header))
	for i := range sep {
		sep[i] = "---"
		if i < len(align) && align[i] == 'r' {
			sep[i] = "--:"
		}
	}
	row(sep)
	for _, r := range rows {
		row(r)
	}
}
