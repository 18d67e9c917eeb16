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

    private static bool IsSlow(Type type) => type.GetCustomAttributesData().Any(a =>
        a.AttributeType == typeof(TraitAttribute) && a.ConstructorArguments is [{ Value: "Category" }, { Value: "Slow" }]);
}
