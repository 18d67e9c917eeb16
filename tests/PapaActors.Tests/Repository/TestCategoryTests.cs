using PapaActors.Tests.Support;

namespace PapaActors.Tests.Repository;

/// <summary>`./papa test --fast` leaves out the test classes marked [Trait("Category", "Slow")]; this keeps the costly ones among them.</summary>
public sealed class TestCategoryTests
{
    /// <summary>What makes a test class slow: papa as a child process, or a whole population trained locally or as a cluster.</summary>
    private static readonly string[] SlowWork = ["PapaProcess.", "LocalPopulation.RunAsync", "RunInProcessAsync"];

    [Fact]
    public void EveryTestClassThatStartsPapaOrTrainsAWholePopulationIsMarkedSlow()
    {
        // One class per file, named as the file (TestLayoutTests).
        var types = typeof(TestCategoryTests).Assembly.GetTypes().ToLookup(t => t.Name);
        var unmarked = Directory.GetFiles(RepositoryFiles.Path("tests", "PapaActors.Tests"), "*Tests.cs", SearchOption.AllDirectories)
            .Where(file => SlowWork.Any(File.ReadAllText(file).Contains))
            .Select(file => types[Path.GetFileNameWithoutExtension(file)].Single())
            .Where(type => type != typeof(TestCategoryTests) && !IsSlow(type))
            .Select(type => type.Name);
        Assert.Empty(unmarked);
    }

    /// <summary>What a test class in the <see cref="ChildProcesses"/> queue must not do: it runs beside the other tests.</summary>
    private static readonly string[] ProcessWideWork = ["Cli.RunInProcess", "Program.Execute", "LocalPopulation.", "RunInProcessAsync", "TorchRuntime.", "AnsiConsole."];

    [Fact]
    public void TheClassesBesideTheOthersStartPapaOnlyAsChildProcesses()
    {
        var types = typeof(TestCategoryTests).Assembly.GetTypes().ToLookup(t => t.Name);
        var beside = Directory.GetFiles(RepositoryFiles.Path("tests", "PapaActors.Tests"), "*Tests.cs", SearchOption.AllDirectories)
            .Where(file => types[Path.GetFileNameWithoutExtension(file)].Single().GetCustomAttributesData()
                .Any(a => a.AttributeType == typeof(CollectionAttribute) && a.ConstructorArguments is [{ Value: ChildProcesses.Name }]))
            .ToDictionary(file => Path.GetFileNameWithoutExtension(file)!, File.ReadAllText);
        Assert.Contains(nameof(Scenarios.ChaosScriptTests), beside.Keys);
        Assert.Empty(beside.Where(c => ProcessWideWork.Any(c.Value.Contains)).Select(c => c.Key));
    }

    private static bool IsSlow(Type type) => type.GetCustomAttributesData().Any(a =>
        a.AttributeType == typeof(TraitAttribute) && a.ConstructorArguments is [{ Value: "Category" }, { Value: "Slow" }]);
}
