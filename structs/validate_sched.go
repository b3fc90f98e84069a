package structs

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/droverhq/drover/internal/version"
)

// validatePlacement checks affinities and spread blocks.
func validatePlacement(p *problems, prefix string, affs []*Affinity, spreads []*Spread) {
	for i, a := range affs {
		if a == nil {
			p.addf(prefix, "affinity %d is missing", i)
			continue
		}
		op := a.Operand
		if op == "" {
			op = ConstraintEqual
		}
		switch {
		case !KnownAffinityOperand(op):
			p.addf(prefix, "affinity %d: unknown operator %s", i, Quote(a.Operand))
		case op == ConstraintRegex:
			if _, err := regexp.Compile(a.RTarget); err != nil {
				p.addf(prefix, "affinity %d: bad regexp %s: %s", i, Quote(a.RTarget), clipErr(err))
			}
		case op == ConstraintVersion || op == ConstraintSemver:
			if why := versionOperandProblem(op, a.RTarget); why != "" {
				p.addf(prefix, "affinity %d (%s %s %s): %s", i, Quote(a.LTarget), op, Quote(a.RTarget), why)
			}
		}
		if a.LTarget == "" {
			p.addf(prefix, "affinity %d: attribute is required", i)
		}
		if a.Weight == 0 || a.Weight < -100 || a.Weight > 100 {
			p.addf(prefix, "affinity %d: weight %d must be -100..100 and not 0", i, a.Weight)
		}
	}
	for i, sp := range spreads {
		if sp == nil {
			p.addf(prefix, "spread %d is missing", i)
			continue
		}
		if sp.Attribute == "" {
			p.addf(prefix, "spread %d: attribute is required", i)
		}
		if sp.Weight < 0 || sp.Weight > 100 {
			p.addf(prefix, "spread %d: weight %d must be 0..100", i, sp.Weight)
		}
		sum := int32(0)
		seen := map[string]bool{}
		for _, t := range sp.Targets {
			switch {
			case t == nil:
				p.addf(prefix, "spread %d: a target is missing", i)
				continue
			case t.Value == "":
				p.addf(prefix, "spread %d: a target needs a value", i)
			case seen[t.Value]:
				p.addf(prefix, "spread %d: target %s is given twice", i, Quote(t.Value))
			}
			seen[t.Value] = true
			if t.Percent < 0 || t.Percent > 100 {
				p.addf(prefix, "spread %d: target %s: percent %d must be 0..100", i, Quote(t.Value), t.Percent)
			}
			sum += t.Percent
		}
		if sum > 100 {
			p.addf(prefix, "spread %d: target percents add up to %d, more than 100", i, sum)
		}
	}
}

// validateNetwork checks a group's ports: labels given once, static values
// real ports and not asked twice.
func validateNetwork(p *problems, prefix string, nw *NetworkResource) {
	if nw == nil {
		return
	}
	labels := map[string]bool{}
	static := map[int32]bool{}
	for i, port := range nw.Ports {
		if port == nil {
			p.addf(prefix, "network: port %d is missing", i)
			continue
		}
		switch {
		case port.Label == "":
			p.addf(prefix, "network: port %d needs a label", i)
		case labels[port.Label]:
			p.addf(prefix, "network: port %s is given twice", Quote(port.Label))
		}
		labels[port.Label] = true
		if port.Value < 0 || port.Value > 65535 || port.To < 0 || port.To > 65535 {
			p.addf(prefix, "network: port %s: ports are 0..65535", Quote(port.Label))
		}
		if port.Value > 0 {
			if static[port.Value] {
				p.addf(prefix, "network: static port %d is asked twice", port.Value)
			}
			static[port.Value] = true
		}
	}
}

// validateReschedule checks a group's reschedule policy.
func validateReschedule(p *problems, prefix string, rp *ReschedulePolicy) {
	if rp == nil {
		return
	}
	if rp.Attempts < 0 {
		p.addf(prefix, "reschedule: attempts must be >= 0")
	}
	for name, d := range map[string]time.Duration{
		"interval": rp.Interval.AsDuration(), "delay": rp.Delay.AsDuration(), "max_delay": rp.MaxDelay.AsDuration(),
	} {
		if d < 0 {
			p.addf(prefix, "reschedule: %s must be >= 0", name)
		}
	}
	switch rp.DelayFunction {
	case "", "constant", "exponential", "fibonacci":
	default:
		p.addf(prefix, "reschedule: delay_function %s is not one of constant, exponential, fibonacci", Quote(rp.DelayFunction))
	}
	if !rp.Unlimited && rp.Attempts > 0 && rp.Interval.AsDuration() <= 0 {
		p.addf(prefix, "reschedule: a limited number of attempts needs an interval")
	}
}

// versionOperandProblem parses the r_target of a version or semver
// constraint with the scheduler's own parser and says why it can never
// match, or "". A target that names a node value (${...}) is only known
// on each node, so it is not checked.
func versionOperandProblem(op, target string) string {
	if strings.HasPrefix(target, "${") && strings.HasSuffix(target, "}") {
		return ""
	}
	_, err := version.ParseConstraint(target, op == ConstraintSemver)
	var perr *version.ParseError
	if errors.As(err, &perr) {
		return fmt.Sprintf("%s is not %s", Quote(perr.Part), perr.Want())
	}
	if err != nil {
		return err.Error()
	}
	return ""
}
