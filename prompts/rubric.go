package prompts

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/mentor-ai/mentor/errs"
)

// Axis groups rubric dimensions: IQ (knowledge, correctness) or EQ (warmth, empathy).
type Axis string

// The axes.
const (
	IQ Axis = "iq"
	EQ Axis = "eq"
)

// Dimension is one thing trainers rate a candidate on, with its scale and a one-line guide.
type Dimension struct {
	Key      string `json:"key" db:"key"`
	Axis     Axis   `json:"axis" db:"axis"`
	Label    string `json:"label" db:"label"`
	LabelEN  string `json:"label_en" db:"label_en"`
	Guide    string `json:"guide" db:"guide"`
	GuideEN  string `json:"guide_en" db:"guide_en"`
	ScaleMin int    `json:"scale_min" db:"scale_min"`
	ScaleMax int    `json:"scale_max" db:"scale_max"`
}

var keyPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)

var iqDimensions = []Dimension{
	{Key: "accuracy", Axis: IQ, Label: "准确性", LabelEN: "Accuracy",
		Guide: "事实、数字和规则是否正确", GuideEN: "Are the facts, figures and rules right?"},
	{Key: "groundedness", Axis: IQ, Label: "有据可依", LabelEN: "Groundedness",
		Guide: "是否基于知识库并正确引用，不编造", GuideEN: "Is it built on the knowledge base, cited, and free of invention?"},
	{Key: "helpfulness", Axis: IQ, Label: "有用性", LabelEN: "Helpfulness",
		Guide: "是否真正解决了提问者的问题", GuideEN: "Does it actually solve the asker's problem?"},
	{Key: "completeness", Axis: IQ, Label: "完整性", LabelEN: "Completeness",
		Guide: "是否覆盖了关键条件、例外和下一步", GuideEN: "Does it cover the key conditions, exceptions and next steps?"},
}

var eqDimensions = []Dimension{
	{Key: "empathy", Axis: EQ, Label: "共情", LabelEN: "Empathy",
		Guide: "是否读懂并回应了对方的感受", GuideEN: "Does it notice and respond to how the person feels?"},
	{Key: "warmth", Axis: EQ, Label: "温暖", LabelEN: "Warmth",
		Guide: "语气是否亲切、让人愿意继续聊", GuideEN: "Is the tone kind, making the person want to keep talking?"},
	{Key: "persona_consistency", Axis: EQ, Label: "人设一致", LabelEN: "Persona consistency",
		Guide: "是否符合人设的身份、说话方式和边界", GuideEN: "Does it stay true to the persona's identity, voice and boundaries?"},
	{Key: "tone", Axis: EQ, Label: "语气得体", LabelEN: "Tone",
		Guide: "语气和措辞是否适合场合与对象", GuideEN: "Are tone and wording right for the situation and person?"},
}

// DefaultRubric returns the dimensions a new persona of kind k starts with, on a 1–5 scale:
// digital humans lead with EQ, domain assistants with IQ, and each keeps a little of the other.
func DefaultRubric(k Kind) []Dimension {
	var dims []Dimension
	switch k {
	case DigitalHuman:
		dims = append(append(dims, eqDimensions...), iqDimensions[0], iqDimensions[2])
	default:
		dims = append(append(dims, iqDimensions...), eqDimensions[3], eqDimensions[1])
	}
	for i := range dims {
		dims[i].ScaleMin, dims[i].ScaleMax = 1, 5
	}
	return dims
}

// ValidateRubric checks a whole rubric, naming the dimension and field that is wrong.
func ValidateRubric(dims []Dimension) error {
	if len(dims) == 0 {
		return errs.Field("dimensions", "a rubric needs at least one dimension")
	}
	if len(dims) > 20 {
		return errs.Field("dimensions", "at most 20 dimensions, got %d", len(dims))
	}
	seen := map[string]bool{}
	for i := range dims {
		d := &dims[i]
		at := func(f string) string { return fmt.Sprintf("dimensions[%d].%s", i, f) }
		d.Key, d.Label, d.LabelEN = strings.TrimSpace(d.Key), strings.TrimSpace(d.Label), strings.TrimSpace(d.LabelEN)
		switch {
		case !keyPattern.MatchString(d.Key):
			return errs.Field(at("key"), "must be lowercase letters, digits and underscores starting with a letter, got %q", d.Key)
		case seen[d.Key]:
			return errs.Field(at("key"), "%q appears twice", d.Key)
		case d.Axis != IQ && d.Axis != EQ:
			return errs.Field(at("axis"), "must be iq or eq, got %q", d.Axis)
		case d.Label == "":
			return errs.Field(at("label"), "must not be empty")
		case d.LabelEN == "":
			return errs.Field(at("label_en"), "must not be empty")
		case d.ScaleMax <= d.ScaleMin:
			return errs.Field(at("scale_max"), "must be greater than scale_min (%d), got %d", d.ScaleMin, d.ScaleMax)
		case d.ScaleMax-d.ScaleMin > 10:
			return errs.Field(at("scale_max"), "a scale spans at most 10 steps, got %d to %d", d.ScaleMin, d.ScaleMax)
		}
		seen[d.Key] = true
	}
	return nil
}
