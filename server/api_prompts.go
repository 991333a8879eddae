package server

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/llm"
	"github.com/mentor-ai/mentor/prompts"
	"github.com/mentor-ai/mentor/retrieval"
)

// apiFunc is a handler that returns its error, so every error reaches writeError.
type apiFunc func(c *gin.Context) error

func api(logger *slog.Logger, fn apiFunc) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := fn(c); err != nil {
			writeError(c, logger, err)
		}
	}
}

// projectParam resolves :project, which may be an id or a slug.
func projectParam(ctx context.Context, c *gin.Context, ps *prompts.Store) (prompts.Project, error) {
	p := c.Param("project")
	if id, err := strconv.ParseInt(p, 10, 64); err == nil {
		return ps.Project(ctx, id)
	}
	return ps.ProjectBySlug(ctx, p)
}

func personaParam(ctx context.Context, c *gin.Context, ps *prompts.Store) (prompts.Persona, error) {
	id, err := idParam(c, "persona")
	if err != nil {
		return prompts.Persona{}, err
	}
	return ps.Persona(ctx, id)
}

func versionParam(ctx context.Context, c *gin.Context, ps *prompts.Store, personaID int64) (prompts.Version, error) {
	n, err := strconv.Atoi(c.Param("version"))
	if err != nil || n <= 0 {
		return prompts.Version{}, errs.E(errs.NotFound, "no version %q", c.Param("version"))
	}
	return ps.VersionByNumber(ctx, personaID, n)
}

type projectInput struct {
	Slug         string `json:"slug"`
	Name         string `json:"name"`
	Description  string `json:"description"`
	BlindRanking *bool  `json:"blind_ranking"`
}

func (in projectInput) project() prompts.Project {
	p := prompts.Project{Slug: in.Slug, Name: in.Name, Description: in.Description, BlindRanking: true}
	if in.BlindRanking != nil {
		p.BlindRanking = *in.BlindRanking
	}
	return p
}

func handleListProjects(ps *prompts.Store) apiFunc {
	return func(c *gin.Context) error {
		list, err := ps.Projects(c.Request.Context())
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, gin.H{"projects": list})
		return nil
	}
}

func handleCreateProject(ps *prompts.Store) apiFunc {
	return func(c *gin.Context) error {
		var in projectInput
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		p, err := ps.CreateProject(c.Request.Context(), in.project())
		if err != nil {
			return err
		}
		c.JSON(http.StatusCreated, p)
		return nil
	}
}

func handleGetProject(ps *prompts.Store) apiFunc {
	return func(c *gin.Context) error {
		p, err := projectParam(c.Request.Context(), c, ps)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, p)
		return nil
	}
}

func handleUpdateProject(ps *prompts.Store) apiFunc {
	return func(c *gin.Context) error {
		ctx := c.Request.Context()
		p, err := projectParam(ctx, c, ps)
		if err != nil {
			return err
		}
		var in projectInput
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		upd := in.project()
		upd.ID, upd.Slug = p.ID, p.Slug
		if in.BlindRanking == nil {
			upd.BlindRanking = p.BlindRanking
		}
		if upd, err = ps.UpdateProject(ctx, upd); err != nil {
			return err
		}
		c.JSON(http.StatusOK, upd)
		return nil
	}
}

type personaInput struct {
	Slug           string       `json:"slug"`
	Kind           prompts.Kind `json:"kind"`
	Name           string       `json:"name"`
	NameEN         string       `json:"name_en"`
	Description    string       `json:"description"`
	DescriptionEN  string       `json:"description_en"`
	Locale         string       `json:"locale"`
	AvatarColor    string       `json:"avatar_color"`
	AvatarInitials string       `json:"avatar_initials"`
}

func (in personaInput) persona() prompts.Persona {
	return prompts.Persona{Slug: in.Slug, Kind: in.Kind, Name: in.Name, NameEN: in.NameEN, Description: in.Description,
		DescriptionEN: in.DescriptionEN, Locale: in.Locale, AvatarColor: in.AvatarColor, AvatarInitials: in.AvatarInitials}
}

func handleListPersonas(ps *prompts.Store) apiFunc {
	return func(c *gin.Context) error {
		ctx := c.Request.Context()
		p, err := projectParam(ctx, c, ps)
		if err != nil {
			return err
		}
		list, err := ps.Personas(ctx, p.ID)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, gin.H{"project": p, "personas": list})
		return nil
	}
}

func handleCreatePersona(ps *prompts.Store) apiFunc {
	return func(c *gin.Context) error {
		ctx := c.Request.Context()
		p, err := projectParam(ctx, c, ps)
		if err != nil {
			return err
		}
		var in personaInput
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		persona := in.persona()
		persona.ProjectID = p.ID
		if persona, err = ps.CreatePersona(ctx, persona); err != nil {
			return err
		}
		c.JSON(http.StatusCreated, persona)
		return nil
	}
}

func handleGetPersona(ps *prompts.Store) apiFunc {
	return func(c *gin.Context) error {
		ctx := c.Request.Context()
		p, err := personaParam(ctx, c, ps)
		if err != nil {
			return err
		}
		rubric, err := ps.Rubric(ctx, p.ID)
		if err != nil {
			return err
		}
		versions, err := ps.Versions(ctx, p.ID)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, gin.H{"persona": p, "rubric": rubric, "versions": versions})
		return nil
	}
}

func handleUpdatePersona(ps *prompts.Store) apiFunc {
	return func(c *gin.Context) error {
		ctx := c.Request.Context()
		p, err := personaParam(ctx, c, ps)
		if err != nil {
			return err
		}
		var in personaInput
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		upd := in.persona()
		upd.ID, upd.ProjectID, upd.Slug = p.ID, p.ProjectID, p.Slug
		if upd, err = ps.UpdatePersona(ctx, upd); err != nil {
			return err
		}
		c.JSON(http.StatusOK, upd)
		return nil
	}
}

func handlePutRubric(ps *prompts.Store) apiFunc {
	return func(c *gin.Context) error {
		ctx := c.Request.Context()
		p, err := personaParam(ctx, c, ps)
		if err != nil {
			return err
		}
		var in struct {
			Dimensions []prompts.Dimension `json:"dimensions"`
		}
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		if err := ps.ReplaceRubric(ctx, p.ID, in.Dimensions); err != nil {
			return err
		}
		rubric, err := ps.Rubric(ctx, p.ID)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, gin.H{"dimensions": rubric})
		return nil
	}
}

func handlePublishVersion(ps *prompts.Store, models *llm.Registry) apiFunc {
	return func(c *gin.Context) error {
		ctx := c.Request.Context()
		p, err := personaParam(ctx, c, ps)
		if err != nil {
			return err
		}
		var in prompts.NewVersion
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		v, err := in.Version(models.Has)
		if err != nil {
			return err
		}
		if v, err = ps.PublishVersion(ctx, p.ID, v); err != nil {
			return err
		}
		c.JSON(http.StatusCreated, v)
		return nil
	}
}

func handleGetVersion(ps *prompts.Store) apiFunc {
	return func(c *gin.Context) error {
		ctx := c.Request.Context()
		p, err := personaParam(ctx, c, ps)
		if err != nil {
			return err
		}
		v, err := versionParam(ctx, c, ps, p.ID)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, v)
		return nil
	}
}

// handleDiff compares two versions of a persona: ?from=1&to=2.
func handleDiff(ps *prompts.Store) apiFunc {
	return func(c *gin.Context) error {
		ctx := c.Request.Context()
		p, err := personaParam(ctx, c, ps)
		if err != nil {
			return err
		}
		var nums [2]int
		for i, q := range []string{"from", "to"} {
			n, err := strconv.Atoi(c.Query(q))
			if err != nil || n <= 0 {
				return errs.Field(q, "must be a version number, got %q", c.Query(q))
			}
			nums[i] = n
		}
		var vs [2]prompts.Version
		for i, n := range nums {
			if vs[i], err = ps.VersionByNumber(ctx, p.ID, n); err != nil {
				return err
			}
		}
		c.JSON(http.StatusOK, gin.H{"from": vs[0].Version, "to": vs[1].Version, "diff": prompts.Diff(vs[0], vs[1])})
		return nil
	}
}

// handlePreview renders a template with sample inputs without saving it, so an author sees
// mistakes (with line and column) and the result while editing.
func handlePreview(ps *prompts.Store) apiFunc {
	return func(c *gin.Context) error {
		ctx := c.Request.Context()
		p, err := personaParam(ctx, c, ps)
		if err != nil {
			return err
		}
		var in struct {
			Template string `json:"template"`
			Locale   string `json:"locale"`
		}
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		t, err := prompts.ParseTemplate(in.Template)
		if err != nil {
			return err
		}
		data := prompts.SampleData(p, in.Locale)
		system, err := t.Render(data)
		if err != nil {
			return err
		}
		opening, _ := t.Block(prompts.BlockOpening, data)
		closing, _ := t.Block(prompts.BlockClosing, data)
		c.JSON(http.StatusOK, gin.H{"system_prompt": system, "opening": opening, "closing": closing, "sample": data,
			"fields": prompts.TemplateFields()})
		return nil
	}
}

func handleListModels(models *llm.Registry) apiFunc {
	return func(c *gin.Context) error {
		c.JSON(http.StatusOK, gin.H{"models": models.Models()})
		return nil
	}
}

func handleModelHealth(models *llm.Registry) apiFunc {
	return func(c *gin.Context) error {
		c.JSON(http.StatusOK, gin.H{"health": models.Health(c.Request.Context())})
		return nil
	}
}

func handleListCorpora(ps *prompts.Store, rs *retrieval.Store) apiFunc {
	return func(c *gin.Context) error {
		ctx := c.Request.Context()
		p, err := projectParam(ctx, c, ps)
		if err != nil {
			return err
		}
		list, err := rs.Corpora(ctx, p.ID)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, gin.H{"corpora": list})
		return nil
	}
}

func handleListDocuments(rs *retrieval.Store) apiFunc {
	return func(c *gin.Context) error {
		ctx := c.Request.Context()
		id, err := idParam(c, "corpus")
		if err != nil {
			return err
		}
		corpus, err := rs.Corpus(ctx, id)
		if err != nil {
			return err
		}
		docs, err := rs.Documents(ctx, []int64{id})
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, gin.H{"corpus": corpus, "documents": docs})
		return nil
	}
}
