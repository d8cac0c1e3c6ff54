package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// raw is bench/run's measurements: every value recorded under a key, plus
// the text notes (key "note").
type raw struct {
	vals  map[string][]float64
	notes []string
}

func parseRaw(r io.Reader) (raw, error) {
	out := raw{vals: map[string][]float64{}}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		key, val, _ := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		switch {
		case key == "":
		case key == "note":
			out.notes = append(out.notes, val)
		default:
			v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
			if err != nil {
				return raw{}, fmt.Errorf("report: line %d: %q: %w", n, sc.Text(), err)
			}
			out.vals[key] = append(out.vals[key], v)
		}
	}
	return out, sc.Err()
}

// med is the median of a key's values, and whether it has any.
func (r raw) med(key string) (float64, bool) {
	v := slices.Clone(r.vals[key])
	if len(v) == 0 {
		return 0, false
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2], true
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2, true
}

// row is one line of the table. Local, Backupfs and Ratio are NaN where
// they do not apply (JSON null).
type row struct {
	Op       string   `json:"operation"`
	Unit     string   `json:"unit"`
	Local    *float64 `json:"local"`
	Backupfs float64  `json:"backupfs"`
	Ratio    *float64 `json:"ratio"`
	Target   string   `json:"target"`
	OK       *bool    `json:"ok"`
}

type report struct {
	Date  string               `json:"date"`
	Rows  []row                `json:"rows"`
	Notes []string             `json:"notes"`
	Raw   map[string][]float64 `json:"raw"`
}

func runTable(rawPath, jsonOut string) error {
	f, err := os.Open(rawPath)
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := parseRaw(f)
	if err != nil {
		return err
	}
	rep := report{Date: time.Now().UTC().Format(time.RFC3339), Rows: buildRows(r), Notes: r.notes, Raw: r.vals}
	printTable(os.Stdout, rep)
	if jsonOut == "" {
		return nil
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(jsonOut, append(b, '\n'), 0o644)
}

func printTable(w io.Writer, rep report) {
	const format = "%-52s %9s %9s %7s %-22s %s\n"
	fmt.Fprintf(w, format, "operation", "local", "backupfs", "ratio", "target", "ok?")
	for _, r := range rep.Rows {
		fmt.Fprintf(w, format, r.Op+" ("+r.Unit+")", num(r.Local), num(&r.Backupfs), num(r.Ratio), r.Target, okText(r.OK))
	}
	for _, n := range rep.Notes {
		fmt.Fprintln(w, "  "+n)
	}
}

func num(v *float64) string {
	switch {
	case v == nil || math.IsNaN(*v):
		return "-"
	case math.Abs(*v) >= 100:
		return strconv.FormatFloat(*v, 'f', 0, 64)
	case math.Abs(*v) >= 10:
		return strconv.FormatFloat(*v, 'f', 1, 64)
	case math.Abs(*v) >= 0.1:
		return strconv.FormatFloat(*v, 'f', 2, 64)
	}
	return strconv.FormatFloat(*v, 'f', 3, 64) // page-cache latencies
}

func okText(ok *bool) string {
	switch {
	case ok == nil:
		return "-"
	case *ok:
		return "yes"
	}
	return "NO"
}
