using PapaActors.Actors.Configuration;
using PapaActors.Actors.Tls;
using Spectre.Console;

namespace PapaActors.Host;

/// <summary>`papa cert`: a cluster's CA and its nodes' certificates, for papa.cluster.tls (no openssl needed).</summary>
internal static class CertCommand
{
    /// <param name="nodes">node-0 ... node-(N-1), valid for localhost and 127.0.0.1 too (a cluster on one machine)</param>
    /// <param name="names">one certificate per host name or IP address</param>
    public static Task<int> ExecuteAsync(string folder, int? nodes, IReadOnlyList<string> names, string? passwordFile)
    {
        if ((nodes is null) == (names.Count == 0))
            throw new ConfigException("papa cert needs --nodes N or --name NAME (one or more), not both");
        if (nodes is < 1)
            throw new ConfigException($"--nodes {nodes}: expected 1 or more");
        var bad = names.FirstOrDefault(n => n.Length == 0 || n.IndexOfAny([.. Path.GetInvalidFileNameChars(), ',', '=', '"']) >= 0);
        if (bad is not null)
            throw new ConfigException($"--name '{bad}' is not a host name or IP address");
        string? password = null;
        if (passwordFile is not null)
            password = new TlsSettings(true, "", "", passwordFile, "", "", false).ReadPassword();
        var creating = !File.Exists(Path.Combine(folder, ClusterCertificates.CaKeyFile));
        var written = nodes is { } count
            ? ClusterCertificates.Write(folder, Enumerable.Range(0, count).Select(i => $"node-{i}").ToList(), password, loopback: true)
            : ClusterCertificates.Write(folder, names, password);
        var ca = Path.Combine(folder, ClusterCertificates.CaFile);
        AnsiConsole.MarkupLineInterpolated($"{(creating ? "made the CA" : "used the CA")} {ca} (its key: {Path.Combine(folder, ClusterCertificates.CaKeyFile)}, keep it off the nodes)");
        foreach (var file in written)
            AnsiConsole.MarkupLineInterpolated($"  {file}");
        AnsiConsole.MarkupLineInterpolated($"on each node: --set cluster.tls.enabled=on --set cluster.tls.ca={ca} --set cluster.tls.certificate=<its .pfx>{(password is null ? "" : " --set cluster.tls.password-file=<the password file>")}");
        return Task.FromResult(ExitCodes.Success);
    }
}
