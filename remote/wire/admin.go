package wire

// Administration (version 4): forget, prune, verify and gc run inside the
// server, for a client with the permission (remote/PROTOCOL.md).

// Admin operations.
const (
	AdminForget = "forget"
	AdminPrune  = "prune"
	AdminVerify = "verify"
	AdminGC     = "gc"
	// AdminProtect and AdminUnprotect mark one snapshot (Time) so forget
	// and prune leave it alone, or undo that.
	AdminProtect   = "protect"
	AdminUnprotect = "unprotect"
	// AdminJobs lists the server's scheduled jobs: last run, result, next.
	AdminJobs = "jobs"
	// AdminTag changes one snapshot's note (flag bit 1) and tags.
	AdminTag = "tag"
)

// MaxAdminLine bounds one line of an admin answer.
const MaxAdminLine = 4096

// Admin asks the server to run one operation.
//
//	0   str   op (forget, prune, verify, gc, protect, unprotect, jobs, tag)
//	.   str   group ("" for every group: verify, gc)
//	.   i64   time (unix seconds; 0: none)
//	.   u8    flags: bit 0 dry run; bit 1 set the note (tag); other bits zero
//	.   6xu32 keep last, hourly, daily, weekly, monthly, yearly (prune)
//	.   i64   keep within (seconds, prune; 0: none)
//	.   i64   grace (seconds, gc; 0: the server's default; -1: none)
//	.   i64   outdated (seconds, verify: skip snapshots verified clean
//	          within it; 0: verify all)
//	.   str   note (tag; at most 1024 bytes)
//	.   str   tags to add, comma-separated (tag; at most 2048 bytes)
//	.   str   tags to remove, comma-separated (tag; at most 2048 bytes)
type Admin struct {
	Op       string
	Group    string
	Time     int64
	DryRun   bool
	Keep     [6]uint32
	Within   int64
	GraceS   int64
	Outdated int64
	SetNote  bool
	Note     string
	AddTags  string
	DelTags  string
}

// Append appends the payload encoding of a.
func (a Admin) Append(dst []byte) []byte {
	dst = appendStr(dst, a.Op, 16)
	dst = appendStr(dst, a.Group, 256)
	dst = appendI64(dst, a.Time)
	fl := byte(0)
	if a.DryRun {
		fl |= 1
	}
	if a.SetNote {
		fl |= 2
	}
	dst = append(dst, fl)
	for _, k := range a.Keep {
		dst = appendU32(dst, k)
	}
	dst = appendI64(dst, a.Within)
	dst = appendI64(dst, a.GraceS)
	dst = appendI64(dst, a.Outdated)
	dst = appendStr(dst, a.Note, 1024)
	dst = appendStr(dst, a.AddTags, 2048)
	return appendStr(dst, a.DelTags, 2048)
}

// DecodeAdmin decodes an ADMIN payload.
func DecodeAdmin(p []byte) (Admin, error) {
	d := newDecoder(p, "ADMIN")
	var a Admin
	a.Op = d.str("op", 1, 16)
	a.Group = d.str("group", 0, 256)
	a.Time = d.i64("time")
	fl := d.u8("flags")
	if d.err == nil && fl&^3 != 0 {
		d.fail("flags %#x: unknown bits", fl)
	}
	a.DryRun, a.SetNote = fl&1 != 0, fl&2 != 0
	for i := range a.Keep {
		a.Keep[i] = d.u32("keep")
	}
	a.Within = d.i64("within")
	a.GraceS = d.i64("grace")
	a.Outdated = d.i64("outdated")
	a.Note = d.str("note", 0, 1024)
	a.AddTags = d.str("add tags", 0, 2048)
	a.DelTags = d.str("remove tags", 0, 2048)
	if d.err == nil {
		switch a.Op {
		case AdminForget, AdminPrune, AdminVerify, AdminGC, AdminProtect, AdminUnprotect, AdminJobs, AdminTag:
		default:
			d.fail("unknown op %q", a.Op)
		}
	}
	if err := d.finish(); err != nil {
		return Admin{}, err
	}
	return a, nil
}

// AdminOutput is one line of an admin answer. Frames with FlagMore carry
// progress and report lines; the last (without it) carries the exit code
// the client's command ends with (0 done, 1 failed or found problems) and
// a last line, maybe empty.
//
//	0  u8   exit code (0 on FlagMore frames)
//	1  str  line (at most MaxAdminLine bytes)
type AdminOutput struct {
	Exit uint8
	Line string
}

// Append appends the payload encoding of o.
func (o AdminOutput) Append(dst []byte) []byte {
	return appendStr(append(dst, o.Exit), o.Line, MaxAdminLine)
}

// DecodeAdminOutput decodes an ADMIN_OUTPUT payload.
func DecodeAdminOutput(p []byte) (AdminOutput, error) {
	d := newDecoder(p, "ADMIN_OUTPUT")
	o := AdminOutput{Exit: d.u8("exit")}
	o.Line = d.str("line", 0, MaxAdminLine)
	if err := d.finish(); err != nil {
		return AdminOutput{}, err
	}
	return o, nil
}
