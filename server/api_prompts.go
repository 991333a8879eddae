package server

import (
	"log/slog"
	"net/http"
	"slices"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/mentor-ai/mentor/audit"
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

// respond writes v as JSON with status, unless err is set.
func respond(c *gin.Context, status int, v any, err error) error {
	if err != nil {
		return err
	}
	c.JSON(status, v)
	return nil
}

func versionParam(c *gin.Context, d Deps, personaID int64) (prompts.Version, error) {
	n, err := strconv.Atoi(c.Param("version"))
	if err != nil || n <= 0 {
		return prompts.Version{}, errs.E(errs.NotFound, "no version %q", c.Param("version"))
	}
	return d.Prompts.VersionByNumber(c.Request.Context(), personaID, n)
}

// projectList is GET /projects.
type projectList struct {
	Projects []prompts.Project `json:"projects"`
}

// personaList is a project's personas.
type personaList struct {
	Project  prompts.Project   `json:"project"`
	Personas []prompts.Persona `json:"personas"`
}

// personaDetail is one persona with its rubric and versions.
type personaDetail struct {
	Persona    prompts.Persona     `json:"persona"`
	Rubric     []prompts.Dimension `json:"rubric"`
	Versions   []prompts.Version   `json:"versions"`
	SeesModels bool                `json:"sees_models"`
}

// rubricBody is a persona's rubric, as PUT …/rubric takes and returns it.
type rubricBody struct {
	Dimensions []prompts.Dimension `json:"dimensions"`
}

// versionDiff compares two prompt versions.
type versionDiff struct {
	From int    `json:"from"`
	To   int    `json:"to"`
	Diff string `json:"diff"`
}

// previewInput is a template to render without saving it.
type previewInput struct {
	Template string `json:"template"`
	Locale   string `json:"locale"`
}

// previewResult is a rendered template and the sample data it was rendered with.
type previewResult struct {
	SystemPrompt string               `json:"system_prompt"`
	Opening      string               `json:"opening"`
	Closing      string               `json:"closing"`
	Sample       prompts.TemplateData `json:"sample"`
	Fields       []string             `json:"fields"`
}

// modelList is GET /models.
type modelList struct {
	Models []llm.Model `json:"models"`
}

// modelHealth is GET /models/health.
type modelHealth struct {
	Health []llm.Health `json:"health"`
}

// corpusList is a project's corpora.
type corpusList struct {
	Corpora []retrieval.CorpusStatus `json:"corpora"`
}

// documentList is a page of a corpus's documents.
type documentList struct {
	Corpus retrieval.Corpus `json:"corpus"`
	retrieval.DocumentPage
}

type projectInput struct {
	Slug         string `json:"slug"`
	Name         string `json:"name"`
	Description  string `json:"description"`
	BlindRanking *bool  `json:"blind_ranking"`
}

// handleListProjects lists the projects the caller belongs to (all, for instance admins).
func handleListProjects(d Deps) apiFunc {
	return func(c *gin.Context) error {
		ctx := c.Request.Context()
		p := principalOf(c)
		list, err := d.Prompts.Projects(ctx)
		if err != nil {
			return err
		}
		if !p.user.IsAdmin {
			mine, err := d.Auth.ProjectIDs(ctx, p.user.ID)
			if err != nil {
				return err
			}
			list = slices.DeleteFunc(list, func(pr prompts.Project) bool { return !slices.Contains(mine, pr.ID) })
		}
		c.JSON(http.StatusOK, projectList{Projects: list})
		return nil
	}
}

func handleCreateProject(d Deps) apiFunc {
	return func(c *gin.Context) error {
		var in projectInput
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		p := prompts.Project{Slug: in.Slug, Name: in.Name, Description: in.Description, BlindRanking: in.BlindRanking == nil || *in.BlindRanking}
		p, err := d.Prompts.CreateProject(c.Request.Context(), p)
		if err != nil {
			return err
		}
		record(c, d, audit.Event{Action: audit.ProjectMade, ProjectID: &p.ID, Target: p.Slug})
		c.JSON(http.StatusCreated, p)
		return nil
	}
}

func handleGetProject() apiFunc {
	return func(c *gin.Context) error {
		c.JSON(http.StatusOK, projectOf(c))
		return nil
	}
}

func handleUpdateProject(d Deps) apiFunc {
	return func(c *gin.Context) error {
		p := projectOf(c)
		var in projectInput
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		p.Name, p.Description = in.Name, in.Description
		if in.BlindRanking != nil {
			p.BlindRanking = *in.BlindRanking
		}
		p, err := d.Prompts.UpdateProject(c.Request.Context(), p)
		return respond(c, http.StatusOK, p, err)
	}
}

func handleListPersonas(d Deps) apiFunc {
	return func(c *gin.Context) error {
		p := projectOf(c)
		list, err := d.Prompts.Personas(c.Request.Context(), p.ID)
		return respond(c, http.StatusOK, personaList{Project: p, Personas: list}, err)
	}
}

// personaInput is the editable part of a persona; the project, id and timestamps come from
// the server.
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

func handleCreatePersona(d Deps) apiFunc {
	return func(c *gin.Context) error {
		var in personaInput
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		persona := in.persona()
		persona.ProjectID = projectOf(c).ID
		persona, err := d.Prompts.CreatePersona(c.Request.Context(), persona)
		return respond(c, http.StatusCreated, persona, err)
	}
}

func handleGetPersona(d Deps) apiFunc {
	return func(c *gin.Context) error {
		ctx := c.Request.Context()
		p := personaOf(c)
		rubric, err := d.Prompts.Rubric(ctx, p.ID)
		if err != nil {
			return err
		}
		versions, err := d.Prompts.Versions(ctx, p.ID)
		if err != nil {
			return err
		}
		// The screen needs to know, before any turn, whether to offer versions by name; the
		// rule is the server's (auth.SeesModels), not copied into the browser.
		sees, err := revealsModels(c, d, p.ID)
		return respond(c, http.StatusOK, personaDetail{Persona: p, Rubric: rubric, Versions: versions, SeesModels: sees}, err)
	}
}

func handleUpdatePersona(d Deps) apiFunc {
	return func(c *gin.Context) error {
		p := personaOf(c)
		var in personaInput
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		upd := in.persona()
		upd.ID, upd.ProjectID, upd.Slug = p.ID, p.ProjectID, p.Slug
		upd, err := d.Prompts.UpdatePersona(c.Request.Context(), upd)
		return respond(c, http.StatusOK, upd, err)
	}
}

func handlePutRubric(d Deps) apiFunc {
	return func(c *gin.Context) error {
		ctx := c.Request.Context()
		p := personaOf(c)
		var in rubricBody
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		if err := d.Prompts.ReplaceRubric(ctx, p.ID, in.Dimensions); err != nil {
			return err
		}
		rubric, err := d.Prompts.Rubric(ctx, p.ID)
		return respond(c, http.StatusOK, rubricBody{Dimensions: rubric}, err)
	}
}

func handlePublishVersion(d Deps) apiFunc {
	return func(c *gin.Context) error {
		var in prompts.NewVersion
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		// The author is whoever is signed in, not what the body claims.
		in.Author = principalOf(c).user.DisplayName
		v, err := in.Version(d.Models.Has)
		if err != nil {
			return err
		}
		v, err = d.Prompts.PublishVersion(c.Request.Context(), personaOf(c).ID, v)
		return respond(c, http.StatusCreated, v, err)
	}
}

func handleGetVersion(d Deps) apiFunc {
	return func(c *gin.Context) error {
		v, err := versionParam(c, d, personaOf(c).ID)
		return respond(c, http.StatusOK, v, err)
	}
}

// handleDiff compares two versions of a persona: ?from=1&to=2.
func handleDiff(d Deps) apiFunc {
	return func(c *gin.Context) error {
		p := personaOf(c)
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
			var err error
			if vs[i], err = d.Prompts.VersionByNumber(c.Request.Context(), p.ID, n); err != nil {
				return err
			}
		}
		c.JSON(http.StatusOK, versionDiff{From: vs[0].Version, To: vs[1].Version, Diff: prompts.Diff(vs[0], vs[1])})
		return nil
	}
}

// handlePreview renders a template with sample inputs without saving it, so an author sees
// mistakes (with line and column) and the result while editing.
func handlePreview() apiFunc {
	return func(c *gin.Context) error {
		var in previewInput
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		t, err := prompts.ParseTemplate(in.Template)
		if err != nil {
			return err
		}
		data := prompts.SampleData(personaOf(c), in.Locale)
		system, err := t.Render(data)
		if err != nil {
			return err
		}
		opening, _ := t.Block(prompts.BlockOpening, data)
		closing, _ := t.Block(prompts.BlockClosing, data)
		c.JSON(http.StatusOK, previewResult{SystemPrompt: system, Opening: opening, Closing: closing, Sample: data,
			Fields: prompts.TemplateFields()})
		return nil
	}
}

func handleListModels(d Deps) apiFunc {
	return func(c *gin.Context) error {
		c.JSON(http.StatusOK, modelList{Models: d.Models.Models()})
		return nil
	}
}

func handleModelHealth(d Deps) apiFunc {
	return func(c *gin.Context) error {
		c.JSON(http.StatusOK, modelHealth{Health: d.Models.Health(c.Request.Context())})
		return nil
	}
}

func handleListCorpora(d Deps) apiFunc {
	return func(c *gin.Context) error {
		list, err := d.Retrieval.Corpora(c.Request.Context(), projectOf(c).ID)
		return respond(c, http.StatusOK, corpusList{Corpora: list}, err)
	}
}

// handleListDocuments lists a page of a corpus's documents: ?limit=100&offset=0.
func handleListDocuments(d Deps) apiFunc {
	return func(c *gin.Context) error {
		corpus := corpusOf(c)
		limit, offset := 100, 0
		if err := queryInt(c, "limit", &limit); err != nil {
			return err
		}
		if err := queryInt(c, "offset", &offset); err != nil {
			return err
		}
		page, err := d.Retrieval.Documents(c.Request.Context(), corpus.ID, limit, offset)
		return respond(c, http.StatusOK, documentList{Corpus: corpus, DocumentPage: page}, err)
	}
}
