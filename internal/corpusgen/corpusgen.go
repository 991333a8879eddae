// Package corpusgen makes large, deterministic, bilingual knowledge corpora for benchmarks:
// customs-style rules in Chinese and English, with headings, so that chunking, full text and
// vectors all have realistic work to do.
//
// Every rule shares the same connective vocabulary (旅客, 携带, 申报…), as a real customs
// corpus does, while the goods they concern come from a vocabulary of a few thousand (origin ×
// kind × product), so that, as in a real corpus, a product name is in well under 1% of the
// chunks and the common words are in most of them.
package corpusgen

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/mentor-ai/mentor/retrieval"
)

var (
	subjectsZH = []string{"旅客", "居民旅客", "非居民旅客", "个人", "跨境电商消费者", "留学生", "常驻人员", "船员", "边民", "快件收件人"}
	baseZH     = []string{"人民币现钞", "外币现钞", "香烟", "酒精饮料", "中药材", "处方药", "宠物犬", "宠物猫", "无人机", "锂电池",
		"化妆品", "婴幼儿奶粉", "黄金饰品", "手提电脑", "照相机", "燕窝", "水果", "种子", "文物", "邮票",
		"茶叶", "咖啡豆", "红酒", "雪茄", "手表", "箱包", "香水", "保健品", "乳制品", "肉制品"}
	originsZH = []string{"法国", "日本", "泰国", "澳洲", "德国", "意大利", "韩国", "巴西", "云南", "新疆", "越南", "智利"}
	kindsZH   = []string{"进口", "冷冻", "有机", "手工", "陈年", "野生", "定制", "二手", "散装", "限量"}
	itemsZH   = vocabulary(originsZH, kindsZH, baseZH, "")
	actionsZH = []string{"应当向海关书面申报", "予以免税放行", "超出部分依法征税", "须出具检疫证书", "按货物办理通关手续",
		"限合理自用数量", "禁止携带入境", "须办理许可证件", "可在口岸免税店购买", "须走红色通道"}
	unitsZH    = []string{"元", "美元", "支", "毫升", "克", "件", "只", "瓦时"}
	topicsZH   = []string{"适用范围", "限量标准", "申报要求", "征税办法", "检疫规定", "禁止事项", "常见问题", "办理流程"}
	subjectsEN = []string{"travellers", "resident travellers", "non-residents", "cross-border shoppers", "students returning from abroad", "crew members"}
	baseEN     = []string{"cash", "cigarettes", "alcohol", "herbal medicine", "dogs", "cats", "drones", "lithium batteries", "cosmetics",
		"infant formula", "gold jewellery", "laptops", "cameras", "fresh fruit", "seeds", "antiques", "tea", "coffee beans", "wine",
		"cigars", "watches", "handbags", "perfume", "supplements", "cheese", "ham"}
	originsEN = []string{"French", "Japanese", "Thai", "Australian", "German", "Italian", "Korean", "Brazilian", "Vietnamese", "Chilean"}
	kindsEN   = []string{"imported", "frozen", "organic", "handmade", "vintage", "wild", "custom", "second-hand", "bulk", "limited"}
	itemsEN   = vocabulary(originsEN, kindsEN, baseEN, " ")
	actionsEN = []string{"must declare them in writing", "may bring them free of duty", "pay duty on the excess", "need a quarantine certificate",
		"clear them as goods", "are limited to reasonable personal quantities", "may not bring them in", "need an import licence"}
	topicsEN = []string{"Scope", "Limits", "Declaring", "Duty", "Quarantine", "Prohibited items", "Questions", "Procedure"}
)

// Documents returns n documents of about sections chunks each, the same for the same seed.
// Two in three are Chinese.
func Documents(seed uint64, n, sections int) []retrieval.DocumentInput {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := make([]retrieval.DocumentInput, n)
	for i := range out {
		if i%3 == 2 {
			out[i] = english(r, i, sections)
		} else {
			out[i] = chinese(r, i, sections)
		}
	}
	return out
}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

// vocabulary is every origin × kind × product name.
func vocabulary(origins, kinds, products []string, sep string) []string {
	var out []string
	for _, o := range origins {
		for _, k := range kinds {
			for _, p := range products {
				out = append(out, o+sep+k+sep+p)
			}
		}
	}
	return out
}

func chinese(r *rand.Rand, i, sections int) retrieval.DocumentInput {
	item := pick(r, itemsZH)
	var b strings.Builder
	for s := range sections {
		fmt.Fprintf(&b, "## %s\n\n", topicsZH[s%len(topicsZH)])
		for range 3 + r.IntN(3) {
			fmt.Fprintf(&b, "%s携带%s超过%d%s的，%s。", pick(r, subjectsZH), item,
				(1+r.IntN(50))*100, pick(r, unitsZH), pick(r, actionsZH))
		}
		b.WriteString("\n\n")
	}
	return retrieval.DocumentInput{Slug: fmt.Sprintf("rule-%06d", i), Lang: "zh-CN", Title: fmt.Sprintf("%s进出境规定（第%d号）", item, i),
		Body: b.String(), Tags: []string{fmt.Sprintf("year-%d", 2015+i%10)}}
}

func english(r *rand.Rand, i, sections int) retrieval.DocumentInput {
	item := pick(r, itemsEN)
	var b strings.Builder
	for s := range sections {
		fmt.Fprintf(&b, "## %s\n\n", topicsEN[s%len(topicsEN)])
		for range 3 + r.IntN(3) {
			fmt.Fprintf(&b, "%s carrying more than %d units of %s %s. ", capital(pick(r, subjectsEN)), (1+r.IntN(50))*100,
				item, pick(r, actionsEN))
		}
		b.WriteString("\n\n")
	}
	return retrieval.DocumentInput{Slug: fmt.Sprintf("rule-%06d", i), Lang: "en", Title: fmt.Sprintf("Rules on %s (notice %d)", item, i),
		Body: b.String(), Tags: []string{fmt.Sprintf("year-%d", 2015+i%10)}}
}

func capital(s string) string { return strings.ToUpper(s[:1]) + s[1:] }

// Queries are questions a trainer might ask of such a corpus, half in Chinese.
func Queries(seed uint64, n int) []string {
	r := rand.New(rand.NewPCG(seed, 7))
	out := make([]string, n)
	for i := range out {
		if i%2 == 0 {
			out[i] = fmt.Sprintf("%s携带%s需要%s吗", pick(r, subjectsZH), pick(r, itemsZH), pick(r, []string{"申报", "缴税", "检疫", "许可证"}))
		} else {
			out[i] = fmt.Sprintf("Do %s need to declare %s?", pick(r, subjectsEN), pick(r, itemsEN))
		}
	}
	return out
}
