using PapaActors.Tests.Support;

namespace PapaActors.Tests.Repository;

/// <summary>README.md as the entry point; its links and the docs' examples are checked by <see cref="DocsTests"/>.</summary>
public sealed class ReadmeTests
{
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
