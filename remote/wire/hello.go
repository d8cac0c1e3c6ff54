package wire

import "fmt"

// HELLO, the first frame each way (request id 0):
//
//	0  4  magic "BFSP"
//	4  2  version u16 (Version)
//	6  4  features u32 (Feature* bits: what this side does; unknown bits are ignored)
//	10 .. client: token str (<= MaxTokenLen); server: name str (<= MaxServerNameLen)

// Feature bits of a HELLO: what a server serves (a client sends 0). A
// client that needs one the server lacks says so before asking (for a
// server configured without it, or a later version that drops it).
const (
	FeatureSealed      uint32 = 1 << 0 // stores sealed blobs, checking their CRC (client-side encryption)
	FeatureDigestQuery uint32 = 1 << 1 // QUERY_CHUNKS during a backup
	FeatureAdmin       uint32 = 1 << 2 // ADMIN: forget, prune, verify, gc, protect, jobs
	FeatureSync        uint32 = 1 << 3 // sync:PATTERN tokens and stored blobs for a puller
	FeaturePush        uint32 = 1 << 4 // PUSH: pulls from a client that dials in (role inversion)
	// FeatureLargeChunks: the datastore keeps every chunk as an object
	// (an object store), so backups should cut images into
	// chunker.LargeFixedSize chunks. Advice, not a rule: the server takes
	// chunks of any size.
	FeatureLargeChunks uint32 = 1 << 5

	// FeaturesV4 is every feature of this version.
	FeaturesV4 = FeatureSealed | FeatureDigestQuery | FeatureAdmin | FeatureSync | FeaturePush
)

// FeatureNames names the feature bits, for messages.
var FeatureNames = map[uint32]string{FeatureSealed: "sealed backups", FeatureDigestQuery: "the digest query",
	FeatureAdmin: "administration", FeatureSync: "sync", FeaturePush: "push", FeatureLargeChunks: "large image chunks"}

// ClientHello is the HELLO a client sends.
type ClientHello struct {
	Version  uint16
	Features uint32
	Token    string
}

// ServerHello is the HELLO a server answers with.
type ServerHello struct {
	Version  uint16
	Features uint32
	Name     string
}

func appendHello(dst []byte, version uint16, features uint32) []byte {
	dst = append(dst, Magic...)
	dst = appendU16(dst, version)
	return appendU32(dst, features)
}

// decodeHelloHead reads magic and version. A version other than Version
// stops decoding (a later version may lay out the rest differently) with
// an error wrapping ErrVersion only.
func decodeHelloHead(d *decoder) (uint16, error) {
	if m := d.take(len(Magic), "magic"); d.err == nil && string(m) != Magic {
		d.fail("magic %q, want %q", m, Magic)
	}
	v := d.u16("version")
	if d.err != nil {
		return 0, d.err
	}
	if v != Version {
		return v, fmt.Errorf("%w: peer speaks protocol %d, this side speaks %d", ErrVersion, v, Version)
	}
	return v, nil
}

// Append appends the payload encoding of h.
func (h ClientHello) Append(dst []byte) []byte {
	return appendStr(appendHello(dst, h.Version, h.Features), h.Token, MaxTokenLen)
}

// DecodeClientHello decodes a client's HELLO payload. On a version other
// than Version it returns the hello with Version set (and nothing else) and
// an error wrapping ErrVersion, so the server can name both versions.
func DecodeClientHello(p []byte) (ClientHello, error) {
	d := newDecoder(p, "HELLO")
	v, err := decodeHelloHead(d)
	if err != nil {
		return ClientHello{Version: v}, err
	}
	h := ClientHello{Version: v, Features: d.u32("features")}
	h.Token = d.str("token", 0, MaxTokenLen)
	if err := d.finish(); err != nil {
		return ClientHello{}, err
	}
	return h, nil
}

// Append appends the payload encoding of h.
func (h ServerHello) Append(dst []byte) []byte {
	return appendStr(appendHello(dst, h.Version, h.Features), h.Name, MaxServerNameLen)
}

// DecodeServerHello decodes a server's HELLO payload; a version mismatch is
// reported as by DecodeClientHello.
func DecodeServerHello(p []byte) (ServerHello, error) {
	d := newDecoder(p, "HELLO")
	v, err := decodeHelloHead(d)
	if err != nil {
		return ServerHello{Version: v}, err
	}
	h := ServerHello{Version: v, Features: d.u32("features")}
	h.Name = d.str("server name", 0, MaxServerNameLen)
	if err := d.finish(); err != nil {
		return ServerHello{}, err
	}
	return h, nil
}
