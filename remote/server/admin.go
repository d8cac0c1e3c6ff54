package server

import (
	"errors"
	"strings"
	"time"

	"github.com/backupfs/backupfs/admin"
	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/remote/auth"
	"github.com/backupfs/backupfs/remote/wire"
	"github.com/backupfs/backupfs/store"
)

// adminReq answers ADMIN: forget, prune, verify or gc run here (package
// admin), each line of the report sent as an ADMIN_OUTPUT with MORE and
// the exit code in the last. Permissions: prune:GROUP for forget and
// prune, verify:GROUP for a group's verify, admin:* for gc and a verify
// of every group. A gc here keeps what the backups running in this
// server rely on (store.GCOptions: the oldest-writer rule). CANCEL (the
// client's Ctrl-C) stops a verify or a gc between chunks; a forget or
// prune of one snapshot is not interrupted.
func (c *srvConn) adminReq(r *srvReq, m wire.Admin) {
	if c.s.cfg.NoAdmin {
		c.fail(r, wire.CodeDenied, "administration is turned off on this server (serve --no-admin)")
		return
	}
	req, perm, err := adminRequest(m)
	if err != nil {
		c.fail(r, wire.CodeBadRequest, "%v", err)
		return
	}
	scope := "*" // a prune of every group needs prune:*
	if req.Group != nil {
		scope = req.Group.String()
	}
	allowed := c.grant.AllowsAll(auth.PermAdmin)
	switch {
	case allowed || perm == auth.PermAdmin:
	case req.Group == nil:
		allowed = c.grant.AllowsAll(perm)
	default:
		allowed = c.grant.Allows(perm, scope)
	}
	if !allowed {
		what := "admin:*"
		if perm != auth.PermAdmin {
			what = string(perm) + ":" + scope + " (or admin:*)"
		}
		c.log.Warn("admin denied", "op", m.Op, "group", m.Group, "token", c.grant.Name)
		c.fail(r, wire.CodeDenied, "%s needs the permission %s", m.Op, what)
		return
	}
	c.log.Info("admin", "op", m.Op, "group", m.Group, "token", c.grant.Name)
	if m.Op == wire.AdminJobs {
		c.listJobs(r)
		return
	}
	err = admin.Run(r.ctx, c.s.cfg.Store, req, func(line string) {
		o := wire.AdminOutput{Line: line}
		_ = c.send(r, wire.Frame{Type: wire.TAdminOutput, Flags: wire.FlagMore, Payload: o.Append(nil)}, false)
	})
	last := wire.AdminOutput{}
	var p *admin.Problems
	switch {
	case errors.As(err, &p):
		last = wire.AdminOutput{Exit: 1, Line: p.Msg}
	case err != nil:
		c.failErr(r, m.Op, err)
		return
	}
	c.done(r, wire.Frame{Type: wire.TAdminOutput, Payload: last.Append(nil)}, false)
}

// adminRequest turns an ADMIN into an admin.Request and the permission
// it needs on its group (admin: the whole datastore).
func adminRequest(m wire.Admin) (admin.Request, auth.Perm, error) {
	req := admin.Request{Op: m.Op, DryRun: m.DryRun,
		Keep: store.KeepPolicy{Last: int(m.Keep[0]), Hourly: int(m.Keep[1]), Daily: int(m.Keep[2]),
			Weekly: int(m.Keep[3]), Monthly: int(m.Keep[4]), Yearly: int(m.Keep[5]),
			Within: time.Duration(m.Within) * time.Second}}
	if m.Group != "" {
		g, err := catalog.ParseGroup(m.Group)
		if err != nil {
			return req, "", err
		}
		req.Group = &g
	}
	if m.Time != 0 {
		t := time.Unix(m.Time, 0).UTC()
		req.Time = &t
	}
	switch {
	case m.GraceS < 0:
		req.Grace = store.NoGrace
	case m.GraceS > 0:
		req.Grace = time.Duration(m.GraceS) * time.Second
	}
	if m.Outdated < 0 || m.Outdated > 1<<40 {
		return req, "", errors.New("outdated out of range")
	}
	req.Outdated = time.Duration(m.Outdated) * time.Second
	if m.SetNote {
		note := m.Note
		req.Annotation.Note = &note
	}
	req.Annotation.AddTags, req.Annotation.RemoveTags = splitTags(m.AddTags), splitTags(m.DelTags)
	if m.Within < 0 || m.Within > 1<<40 {
		return req, "", errors.New("keep-within out of range")
	}
	switch m.Op {
	case wire.AdminForget, wire.AdminPrune, wire.AdminProtect, wire.AdminUnprotect, wire.AdminTag:
		return req, auth.PermPrune, nil
	case wire.AdminVerify:
		if req.Group == nil {
			return req, auth.PermAdmin, nil
		}
		return req, auth.PermVerify, nil
	}
	return req, auth.PermAdmin, nil
}

// listJobs answers ADMIN jobs: one line per scheduled job.
func (c *srvConn) listJobs(r *srvReq) {
	lines := []string{"no jobs (serve --job 'gc every 24h' adds one)"}
	if c.s.cfg.Jobs != nil {
		lines = c.s.cfg.Jobs.Lines()
	}
	for _, l := range lines {
		o := wire.AdminOutput{Line: l}
		_ = c.send(r, wire.Frame{Type: wire.TAdminOutput, Flags: wire.FlagMore, Payload: o.Append(nil)}, false)
	}
	c.done(r, wire.Frame{Type: wire.TAdminOutput, Payload: wire.AdminOutput{}.Append(nil)}, false)
}

// splitTags splits a comma-separated tag list ("" is none).
func splitTags(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}
