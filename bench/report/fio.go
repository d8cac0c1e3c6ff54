package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
)

// errNoJob is returned for fio output without a job that read.
var errNoJob = errors.New("report: fio output has no job")

// fioResult is what the table needs of one fio run (the first job, which
// with --group_reporting is all jobs together).
type fioResult struct {
	IOPS         float64
	P50ms, P99ms float64
}

type fioOutput struct {
	Jobs []struct {
		Read struct {
			IOPS   float64 `json:"iops"`
			ClatNs struct {
				Percentile map[string]float64 `json:"percentile"`
			} `json:"clat_ns"`
		} `json:"read"`
	} `json:"jobs"`
}

func parseFioFile(path string) (fioResult, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return fioResult{}, err
	}
	r, err := parseFio(b)
	if err != nil {
		return fioResult{}, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// parseFio reads fio's --output-format=json. fio may print warnings
// before the JSON object, so it starts at the first '{'.
func parseFio(b []byte) (fioResult, error) {
	for i, c := range b {
		if c == '{' {
			b = b[i:]
			break
		}
	}
	var out fioOutput
	if err := json.Unmarshal(b, &out); err != nil {
		return fioResult{}, fmt.Errorf("report: fio json: %w", err)
	}
	if len(out.Jobs) == 0 {
		return fioResult{}, errNoJob
	}
	rd := out.Jobs[0].Read
	p50, ok50 := rd.ClatNs.Percentile["50.000000"]
	p99, ok99 := rd.ClatNs.Percentile["99.000000"]
	if !ok50 || !ok99 || rd.IOPS == 0 {
		return fioResult{}, fmt.Errorf("%w: no reads or no clat percentiles", errNoJob)
	}
	return fioResult{IOPS: rd.IOPS, P50ms: p50 / 1e6, P99ms: p99 / 1e6}, nil
}
