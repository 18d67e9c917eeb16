using System.Text.RegularExpressions;
using PapaActors.Tests.Support;

namespace PapaActors.Tests.Repository;

/// <summary>
/// Where a test lives: the tests of a type of src/X/Y sit in tests/PapaActors.Tests/X/Y, in a file named after
/// the type; tests of whole runs, scripts and processes in Scenarios/, of repository files in Repository/, the
/// helpers in Support/, the documented example in Examples/. Namespaces follow the folders (but the example's,
/// which is written as a user's own test project would be).
/// </summary>
public sealed partial class TestLayoutTests
{
    private static readonly string Root = RepositoryFiles.Path("tests", "PapaActors.Tests");
    private static readonly string[] OwnFolders = ["Scenarios", "Repository", "Support", "Examples"];

    private static IEnumerable<string> SourceFiles() => Directory.GetFiles(Root, "*.cs", SearchOption.AllDirectories)
        .Where(file => !file.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}") && !file.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}"));

    private static string FolderOf(string file) => Path.GetRelativePath(Root, Path.GetDirectoryName(file)!);

    [Fact]
    public void EveryTestFolderMirrorsASourceFolderOrIsOneOfTheTestsOwn()
    {
        var strays = SourceFiles().Select(FolderOf).Distinct()
            .Where(folder => folder != "." && !OwnFolders.Contains(folder) && !Directory.Exists(RepositoryFiles.Path("src", folder)));
        Assert.Empty(strays);
    }

    [Fact]
    public void EveryNamespaceFollowsItsFolder()
    {
        var wrong = SourceFiles().Where(file => FolderOf(file) != "Examples")
            .Select(file => (File: Path.GetRelativePath(Root, file), Namespace: Namespace().Match(File.ReadAllText(file)).Groups[1].Value,
                Expected: string.Join('.', ["PapaActors", "Tests", .. FolderOf(file).Split(Path.DirectorySeparatorChar).Where(p => p != ".")])))
            .Where(f => f.Namespace != f.Expected)
            .Select(f => $"{f.File}: {f.Namespace}, expected {f.Expected}");
        Assert.Empty(wrong);
    }

    [GeneratedRegex(@"^namespace ([\w.]+);", RegexOptions.Multiline)]
    private static partial Regex Namespace();
}
