namespace PapaActors.Models.Data;

/// <summary>A data file that is missing, truncated or not in the expected format; the message names the file.</summary>
public sealed class DatasetFormatException(string path, string problem, Exception? inner = null)
    : Exception($"{path}: {problem}", inner)
{
    public string Path { get; } = path;
}
