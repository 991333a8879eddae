// Throwaway: walks `make run` as the demo trainer and saves screenshots. Not committed.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

func shot(ctx context.Context, name string) {
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		log.Fatal(err)
	}
	os.WriteFile("/work/shots/"+name+".png", png, 0o644)
}

func main() {
	base, pw, persona := os.Args[1], os.Args[2], os.Args[3]
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath("/usr/bin/chromium"), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel2 := chromedp.NewContext(actx)
	defer cancel2()
	ctx, cancel3 := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel3()
	must := func(err error) {
		if err != nil {
			log.Fatal(err)
		}
	}
	must(chromedp.Do(ctx, chromedp.EmulateViewport(1440, 900), chromedp.Navigate(base+"/"), chromedp.WaitVisible("#signin-form")))
	shot(ctx, "walk-signin-1440")
	must(chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS("#signin-login"), "trainer"), chromedp.SetValue(chromedp.CSS("#signin-password"), pw),
		chromedp.Click(chromedp.CSS("#signin-submit")), chromedp.WaitVisible("#current-user")))
	must(chromedp.Do(ctx, chromedp.Navigate(base+"/#/train/"+persona), chromedp.WaitVisible("#train-message"),
		chromedp.SetValue(chromedp.CSS("#train-message"), "个人邮寄进境物品的免税额是多少？"), chromedp.Click(chromedp.CSS("#train-generate"))))
	time.Sleep(300 * time.Millisecond)
	shot(ctx, "walk-streaming-1440")
	for i := 0; i < 200; i++ {
		n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#train-panes .pane[data-status="complete"]').length`))
		if n == 4 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	keys := []string{"1", "s", "5", "4", "5", "4", "5", "5", "f", "1", kb.ArrowRight, "1", "s", "4", "4", "4", "4", "4", "4", kb.ArrowRight, "2", "s", "3", "3", "3", "3", "3", "3", kb.ArrowRight, "3", "s", "2", "2", "2", "2", "2", "2"}
	for _, k := range keys {
		must(chromedp.Do(ctx, chromedp.KeyEvent(k)))
	}
	shot(ctx, "walk-judged-1440")
	must(chromedp.Do(ctx, chromedp.KeyEvent("?")))
	time.Sleep(200 * time.Millisecond)
	shot(ctx, "walk-keys-help-1440")
	must(chromedp.Do(ctx, chromedp.KeyEvent("?")))
	must(chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#train-submit"))))
	time.Sleep(800 * time.Millisecond)
	state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#train-save").dataset.state`))
	fmt.Println("after submit:", state)
	shot(ctx, "walk-submitted-1440")
	must(chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile)))
	time.Sleep(300 * time.Millisecond)
	shot(ctx, "walk-phone-390")
	sw, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.scrollWidth + " / " + innerWidth + " topbar " + document.querySelector("header, .topbar, nav")?.getBoundingClientRect().height`))
	fmt.Println("phone:", sw)
	body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
	fmt.Println(strings.Contains(body, "baseline"), strings.Contains(body, "qwen"))
}
