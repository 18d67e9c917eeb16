using PapaActors.Tests.Support;

namespace PapaActors.Tests.Host;

public sealed class ReadmeTests
{
    [Fact]
    public void TheScheduleTestingExampleInTheReadmeIsTheTestThatRuns()
    {
        const string example = "tests/PapaActors.Tests/Examples/Papa2ScheduleTests.cs";
        var readme = File.ReadAllText(RepositoryFiles.Path("README.md")).ReplaceLineEndings("\n");
        var marker = readme.IndexOf($"<!-- example: {example} -->", StringComparison.Ordinal);
        Assert.True(marker >= 0, "the README marks where the example goes");
        var start = readme.IndexOf("```csharp\n", marker, StringComparison.Ordinal) + "```csharp\n".Length;
        var end = readme.IndexOf("```", start, StringComparison.Ordinal);

        Assert.Equal(File.ReadAllText(RepositoryFiles.Path(example)).ReplaceLineEndings("\n"), readme[start..end]);
    }

    [Fact]
    public void TheReadmeStartsWithTheTwoCommandsAndCiRunsTheTestOne()
    {
        var readme = File.ReadAllLines(RepositoryFiles.Path("README.md"));
        var commands = readme.SkipWhile(l => l != "```bash").Skip(1).TakeWhile(l => l != "```").ToList();
        Assert.StartsWith("./papa run", commands[0]);
        Assert.StartsWith("./papa test", commands[1]);
        Assert.Contains("./papa test", File.ReadAllText(RepositoryFiles.Path(".ci", "run")));
    }
}
