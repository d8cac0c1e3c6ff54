// Command report turns bench/run's raw measurements into the table of
// issue 5 (operation | local | backupfs | ratio | target | ok?) and the same
// as JSON. It only reads the files it is given and writes the JSON file.
//
//	report fio FIO.json             print "IOPS P50_MS P99_MS" of fio's JSON
//	report table [-json OUT] RAW    print the table; RAW holds "key value" lines
//
// A key may appear several times (bench/run --repeat): the table uses the
// median of its values. Rows whose keys are missing (bench/run --only) are
// left out.
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "fio":
		if len(os.Args) != 3 {
			usage()
		}
		var r fioResult
		if r, err = parseFioFile(os.Args[2]); err == nil {
			fmt.Printf("%.0f %.3f %.3f\n", r.IOPS, r.P50ms, r.P99ms)
		}
	case "table":
		fl := flag.NewFlagSet("table", flag.ExitOnError)
		jsonOut := fl.String("json", "", "also write the table as JSON to this file")
		_ = fl.Parse(os.Args[2:])
		if fl.NArg() != 1 {
			usage()
		}
		err = runTable(fl.Arg(0), *jsonOut)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: report fio FIO.json | report table [-json OUT] RAW")
	os.Exit(2)
}
