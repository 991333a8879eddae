// Package prompts owns projects, personas, their rubrics and their immutable prompt
// versions: everything needed to say exactly which instructions produced a reply.
package prompts

import (
	"crypto/rand"
	"encoding/hex"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/locale"
)

// Project holds personas, corpora, members and data.
type Project struct {
	ID           int64     `json:"id" db:"id"`
	Slug         string    `json:"slug" db:"slug"`
	Name         string    `json:"name" db:"name"`
	Description  string    `json:"description" db:"description"`
	BlindRanking bool      `json:"blind_ranking" db:"blind_ranking"`
	CreatedAt    time.Time `json:"created_at" db:"created_at"`
	UpdatedAt    time.Time `json:"updated_at" db:"updated_at"`
}

// Kind says what a persona is for, which decides its default rubric.
type Kind string

// The persona kinds.
const (
	DigitalHuman    Kind = "digital_human"    // a companion, brand host or presenter: EQ-heavy
	DomainAssistant Kind = "domain_assistant" // customs, finance…: answers must be right
)

// Persona is an assistant that trainers shape.
type Persona struct {
	ID             int64     `json:"id" db:"id"`
	ProjectID      int64     `json:"project_id" db:"project_id"`
	Slug           string    `json:"slug" db:"slug"`
	Kind           Kind      `json:"kind" db:"kind"`
	Name           string    `json:"name" db:"name"`
	NameEN         string    `json:"name_en" db:"name_en"`
	Description    string    `json:"description" db:"description"`
	DescriptionEN  string    `json:"description_en" db:"description_en"`
	Locale         string    `json:"locale" db:"locale"`
	AvatarColor    string    `json:"avatar_color" db:"avatar_color"`
	AvatarInitials string    `json:"avatar_initials" db:"avatar_initials"`
	CreatedAt      time.Time `json:"created_at" db:"created_at"`
	UpdatedAt      time.Time `json:"updated_at" db:"updated_at"`
}

var (
	slugPattern  = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	colorPattern = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)
)

// Validate checks a project before it is stored, naming the first field that is wrong.
func (p *Project) Validate() error {
	p.Name, p.Slug = strings.TrimSpace(p.Name), strings.TrimSpace(p.Slug)
	if p.Name == "" {
		return errs.Field("name", "must not be empty")
	}
	if utf8.RuneCountInString(p.Name) > 120 {
		return errs.Field("name", "must be at most 120 characters")
	}
	if p.Slug == "" {
		p.Slug = newSlug("project")
	}
	if !slugPattern.MatchString(p.Slug) || !strings.ContainsAny(p.Slug, "abcdefghijklmnopqrstuvwxyz") {
		// A letter is required: /projects/7 must only ever mean the project with id 7.
		return errs.Field("slug", "must be lowercase letters, digits and hyphens, at most 63, with at least one letter, got %q", p.Slug)
	}
	return nil
}

// Validate checks a persona before it is stored, filling defaults for optional fields.
func (p *Persona) Validate() error {
	p.Name, p.Slug = strings.TrimSpace(p.Name), strings.TrimSpace(p.Slug)
	switch {
	case p.Name == "":
		return errs.Field("name", "must not be empty")
	case utf8.RuneCountInString(p.Name) > 80:
		return errs.Field("name", "must be at most 80 characters")
	case p.Kind != DigitalHuman && p.Kind != DomainAssistant:
		return errs.Field("kind", "must be %q or %q, got %q", DigitalHuman, DomainAssistant, p.Kind)
	}
	if p.Slug == "" {
		p.Slug = newSlug("persona")
	}
	if !slugPattern.MatchString(p.Slug) {
		return errs.Field("slug", "must be lowercase letters, digits and hyphens, at most 63, got %q", p.Slug)
	}
	if p.Locale == "" {
		p.Locale = "zh-CN"
	}
	if err := locale.Check("locale", p.Locale); err != nil {
		return err
	}
	if p.AvatarColor == "" {
		p.AvatarColor = "#2f6fde"
	}
	if !colorPattern.MatchString(p.AvatarColor) {
		return errs.Field("avatar_color", "must be a colour like #2f6fde, got %q", p.AvatarColor)
	}
	if p.AvatarInitials == "" {
		p.AvatarInitials = string([]rune(p.Name)[:1])
	}
	if n := utf8.RuneCountInString(p.AvatarInitials); n > 2 {
		return errs.Field("avatar_initials", "must be one or two characters, got %d", n)
	}
	return nil
}

func newSlug(prefix string) string {
	b := make([]byte, 4)
	rand.Read(b) //nolint:errcheck // crypto/rand.Read never fails on Linux
	return prefix + "-" + hex.EncodeToString(b)
}
