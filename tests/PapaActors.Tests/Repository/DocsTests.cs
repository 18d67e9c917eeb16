using System.Text.RegularExpressions;
using PapaActors.Tests.Support;

namespace PapaActors.Tests.Repository;

/// <summary>
/// README.md and docs/*.md: every relative link reaches an existing file and heading, every docs page opens with a
/// table of contents of its sections, and every example marked `&lt;!-- example: PATH --&gt;` is that file's text.
/// </summary>
public sealed partial class DocsTests
{
    private static IEnumerable<string> Pages() =>
        [RepositoryFiles.Path("README.md"), .. Directory.GetFiles(RepositoryFiles.Path("docs"), "*.md").Order()];

    [Fact]
    public void EveryRelativeLinkReachesAnExistingFileAndHeading()
    {
        Assert.Empty(Pages().SelectMany(BrokenLinks));
        Assert.Contains("docs/method.md#where-we-differ-from-the-reference-and-why", Links(Read(RepositoryFiles.Path("README.md"))));
    }

    [Fact]
    public void AMissingFileOrHeadingIsReportedByName()
    {
        using var folder = new TempFolder();
        File.WriteAllText(folder.File("other.md"), "# Other\n\n## Its `only` section: (here)\n");
        File.WriteAllText(folder.File("page.md"),
            "# Page\n\n[ok](other.md#its-only-section-here) [self](#page) [gone](missing.md) [no heading](other.md#elsewhere)\n" +
            "[web](https://example.com/x.md) `[in code](missing.md)`\n\n```\n[in a block](missing.md)\n```\n");

        Assert.Equal(["page.md: missing.md: no such file", "page.md: other.md#elsewhere: no such heading in other.md"],
            BrokenLinks(folder.File("page.md")));
    }

    [Theory]
    [InlineData("What `./papa run` does", "what-papa-run-does")]
    [InlineData("Ctrl-C / SIGTERM", "ctrl-c--sigterm")]
    [InlineData("The slides' experiments", "the-slides-experiments")]
    [InlineData("Facts about this stack (measured here)", "facts-about-this-stack-measured-here")]
    [InlineData("Learning rate, clipping and push strength", "learning-rate-clipping-and-push-strength")]
    public void HeadingsGetGitHubsAnchors(string heading, string anchor) => Assert.Equal([anchor], Anchors($"## {heading}\n"));

    [Fact]
    public void ARepeatedHeadingGetsANumberedAnchor() => Assert.Equal(["notes", "notes-1"], Anchors("## Notes\n\n## Notes\n"));

    [Fact]
    public void EveryDocsPageOpensWithASummaryAndATableOfContentsOfItsSections()
    {
        foreach (var page in Directory.GetFiles(RepositoryFiles.Path("docs"), "*.md"))
        {
            var lines = Read(page).Split('\n');
            Assert.True(lines[0].StartsWith("# ") && lines[1].Length == 0 && lines[2].Length > 0 && !lines[2].StartsWith('-'),
                $"{Path.GetFileName(page)} starts with a title and a summary");
            var intro = string.Join('\n', lines.TakeWhile(l => !l.StartsWith("## ")));
            var sections = Anchors(string.Join('\n', lines.Where(l => l.StartsWith("## "))));
            Assert.Equal(sections.Select(a => "#" + a), Links(intro));
        }
    }

    [Fact]
    public void EveryMarkedExampleIsTheFileThatRuns()
    {
        var examples = new List<string>();
        foreach (var page in Pages())
        {
            var text = Read(page);
            foreach (Match marker in ExampleMarker().Matches(text))
            {
                var example = marker.Groups[1].Value;
                var start = text.IndexOf('\n', text.IndexOf("```", marker.Index, StringComparison.Ordinal)) + 1;
                var end = text.IndexOf("```", start, StringComparison.Ordinal);
                Assert.True(text[marker.Index..start].Trim().Split('\n').Length == 2, $"{Path.GetFileName(page)}: the code block follows the marker of {example}");
                Assert.Equal(Read(RepositoryFiles.Path(example)), text[start..end]);
                examples.Add(example);
            }
        }
        Assert.Contains("tests/PapaActors.Tests/Examples/Papa2ScheduleTests.cs", examples);
    }

    private static string Read(string path) => File.ReadAllText(path).ReplaceLineEndings("\n");

    /// <summary>The problems of one page's relative links, as "page: target: problem".</summary>
    private static List<string> BrokenLinks(string page)
    {
        var name = Path.GetFileName(page);
        var broken = new List<string>();
        foreach (var target in Links(Read(page)).Where(t => !UriScheme().IsMatch(t)))
        {
            var hash = target.IndexOf('#');
            var (path, anchor) = hash < 0 ? (target, null) : (target[..hash], target[(hash + 1)..]);
            var file = path.Length == 0 ? page : Path.GetFullPath(Path.Combine(Path.GetDirectoryName(page)!, Uri.UnescapeDataString(path)));
            if (!File.Exists(file) && !Directory.Exists(file))
                broken.Add($"{name}: {target}: no such file");
            else if (anchor is not null && !(File.Exists(file) && Anchors(Read(file)).Contains(anchor)))
                broken.Add($"{name}: {target}: no such heading in {Path.GetFileName(file)}");
        }
        return broken;
    }

    /// <summary>The targets of the page's markdown links and images, outside code blocks and code spans.</summary>
    private static List<string> Links(string markdown) =>
        [.. LinkTarget().Matches(CodeSpan().Replace(WithoutCodeBlocks(markdown), "")).Select(m => m.Groups[1].Value)];

    /// <summary>GitHub's heading anchors: the text lower-cased, punctuation dropped, spaces made '-', repeats numbered.</summary>
    private static List<string> Anchors(string markdown)
    {
        var seen = new Dictionary<string, int>();
        var anchors = new List<string>();
        foreach (Match heading in Heading().Matches(WithoutCodeBlocks(markdown)))
        {
            var text = LinkTarget().Replace(heading.Groups[1].Value, "").Replace("`", "");
            var anchor = NotInAnchor().Replace(text.Trim().ToLowerInvariant(), "").Replace(' ', '-');
            var repeats = seen.GetValueOrDefault(anchor);
            seen[anchor] = repeats + 1;
            anchors.Add(repeats == 0 ? anchor : $"{anchor}-{repeats}");
        }
        return anchors;
    }

    private static string WithoutCodeBlocks(string markdown) => CodeBlock().Replace(markdown, "");

    [GeneratedRegex(@"^```.*?^```[^\n]*$", RegexOptions.Multiline | RegexOptions.Singleline)]
    private static partial Regex CodeBlock();

    [GeneratedRegex(@"`[^`]*`")]
    private static partial Regex CodeSpan();

    [GeneratedRegex(@"\]\(([^)\s]+)\)")]
    private static partial Regex LinkTarget();

    [GeneratedRegex(@"^#{1,6} +(.+?) *$", RegexOptions.Multiline)]
    private static partial Regex Heading();

    [GeneratedRegex(@"[^\p{L}\p{M}\p{N}\p{Pc}\- ]")]
    private static partial Regex NotInAnchor();

    [GeneratedRegex(@"^[a-z][a-z0-9+.-]*:", RegexOptions.IgnoreCase)]
    private static partial Regex UriScheme();

    [GeneratedRegex(@"<!-- example: (\S+) -->")]
    private static partial Regex ExampleMarker();
}
