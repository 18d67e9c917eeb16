namespace PapaActors.Tests.Support;

/// <summary>Paths in the repository the tests were compiled from (README.md, docs/, hocon/, scripts/).</summary>
public static class RepositoryFiles
{
    public static string Root => Locate();

    public static string Path(params string[] parts) => System.IO.Path.Combine([Root, .. parts]);

    private static string Locate([System.Runtime.CompilerServices.CallerFilePath] string here = "") =>
        System.IO.Path.GetFullPath(System.IO.Path.Combine(System.IO.Path.GetDirectoryName(here)!, "..", "..", ".."));
}
