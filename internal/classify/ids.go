package classify

// source says where an identifier value was read.
type source uint8

const (
	srcPath source = iota
	srcQuery
	srcBody
)

// observation is every value one spelling of one field had in one source.
type observation struct {
	group    string // canonical field name; the run_id aliases share "run"
	kind     idKind
	repeated bool
	src      source
	vals     []string
}

// collector gathers identifier values from the path, query and body and
// checks that every source agrees.
type collector struct {
	obs []observation
}

func (c *collector) add(group string, kind idKind, repeated bool, src source, val string) {
	for i := range c.obs {
		o := &c.obs[i]
		if o.group == group && o.src == src && o.repeated == repeated {
			o.vals = append(o.vals, val)
			return
		}
	}
	c.obs = append(c.obs, observation{group: group, kind: kind, repeated: repeated, src: src, vals: []string{val}})
}

// check refuses a request in which one identifier has different values: a
// scalar field (or the run_id/run_uuid family) with two distinct values
// anywhere, or a repeated field whose lists differ between sources.
func (c *collector) check() *Rejection {
	for i := range c.obs {
		a := &c.obs[i]
		if !a.repeated {
			for _, v := range a.vals[1:] {
				if v != a.vals[0] {
					return conflict(a.group)
				}
			}
		}
		for j := i + 1; j < len(c.obs); j++ {
			b := &c.obs[j]
			if a.group != b.group {
				continue
			}
			switch {
			case !a.repeated && !b.repeated:
				if a.vals[0] != b.vals[0] {
					return conflict(a.group)
				}
			case a.repeated && b.repeated && a.src != b.src:
				if !equalStrings(a.vals, b.vals) {
					return conflict(a.group)
				}
			}
		}
	}
	return nil
}

func conflict(group string) *Rejection {
	if group == runGroup {
		return reject("conflicting_run_id", "request names different runs in run_id, run_uuid or runId")
	}
	return reject("conflicting_identifier", "request gives %q two different values", group)
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// identifiers returns the collected values by kind, deduplicated.
func (c *collector) identifiers() Identifiers {
	var ids Identifiers
	for i := range c.obs {
		o := &c.obs[i]
		var dst *[]string
		switch o.kind {
		case idExperiment:
			dst = &ids.ExperimentIDs
		case idRun:
			dst = &ids.RunIDs
		case idModelName:
			dst = &ids.ModelNames
		case idVersion:
			dst = &ids.Versions
		case idTrace:
			dst = &ids.TraceIDs
		case idArtifactPath:
			dst = &ids.ArtifactPaths
		case idLoggedModel:
			dst = &ids.LoggedModelIDs
		default:
			continue
		}
		*dst = appendUnique(*dst, o.vals)
	}
	return ids
}

// appendUnique appends the values of vals not already in dst, in order. It
// switches to a map for long lists so that a body with many ids stays linear.
func appendUnique(dst, vals []string) []string {
	if len(dst)+len(vals) <= 16 {
		for _, v := range vals {
			if !contains(dst, v) {
				dst = append(dst, v)
			}
		}
		return dst
	}
	seen := make(map[string]struct{}, len(dst)+len(vals))
	for _, v := range dst {
		seen[v] = struct{}{}
	}
	for _, v := range vals {
		if _, ok := seen[v]; !ok {
			seen[v] = struct{}{}
			dst = append(dst, v)
		}
	}
	return dst
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

const runGroup = "run"

// jsonName converts a protobuf field name to its lowerCamelCase JSON name, the
// second spelling MLflow's protobuf parser accepts ("experiment_id" ->
// "experimentId"). A name without '_' is returned unchanged.
func jsonName(s string) string {
	i := 0
	for i < len(s) && s[i] != '_' {
		i++
	}
	if i == len(s) {
		return s
	}
	b := make([]byte, 0, len(s))
	b = append(b, s[:i]...)
	up := false
	for ; i < len(s); i++ {
		c := s[i]
		if c == '_' {
			up = true
			continue
		}
		if up && 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		up = false
		b = append(b, c)
	}
	return string(b)
}

// groupOf returns the agreement group of a canonical name: the run_id aliases
// (run_id, run_uuid, runId, runUuid) are one group.
func groupOf(canon string) string {
	if canon == "runId" || canon == "runUuid" {
		return runGroup
	}
	return canon
}
