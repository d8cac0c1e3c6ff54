package catalog

import (
	"errors"
	"testing"
)

const testManifestJSON = `{"version":1,"group":"ct/a","time":"2026-01-01T00:00:00Z","created_by":"","archives":[]}`

func TestDecodeManifestTrailingData(t *testing.T) {
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"plain", testManifestJSON, true},
		{"whitespace", testManifestJSON + " \n\t", true},
		{"stray bracket", testManifestJSON + "]", false},
		{"stray brace and garbage", testManifestJSON + "}garbage", false},
		{"second object", testManifestJSON + testManifestJSON, false},
		{"word", testManifestJSON + " x", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeManifest([]byte(tt.in))
			if tt.ok != (err == nil) || err != nil && !errors.Is(err, ErrFormat) {
				t.Fatalf("DecodeManifest = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
